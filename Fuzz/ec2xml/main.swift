// Fuzz target `ec2xml`: an HTTP response body from EC2 (or STS), through the AWS layer's public API.
//
// Input: the body. Path: XMLParser.parse (expat, dlopen'ed: libexpat.so.1 must be installed) with a round-trip
// invariant; then the body as a 400 answer (the error document decoder), as the 200 answer to the EC2Client
// calls whose decoders find their elements in it (network interfaces, subnets, instances, instance types, address
// changes, create, attach, return-true), and as the STS AssumeRoleWithWebIdentity answer of the credential chain.
// Requests are signed for real (libcrypto.so.3 is dlopen'ed); the transport and the clock are fakes, so nothing
// leaves the process.
// Invariants: no trap; errors are AWSErrors that never contain the secret key or the web identity token;
// decoded identifiers are non-empty and trimmed.
import AWS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEC2XML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = fuzzBytes(data, size)
    var root: XMLElement? = nil
    do {
        let doc = try XMLParser.parse(body)
        root = doc
        let printed = xmlDocument(doc)
        do {
            let again = try XMLParser.parse(printed)
            fuzzCheck(again == doc, "parse(print(doc)) != doc: \(String(decoding: printed, as: UTF8.self))")
        } catch {
            fuzzCheck(false, "printed document does not parse: \(error): \(String(decoding: printed, as: UTF8.self))")
        }
    } catch {
        switch error {
        case .unavailable(let why): fuzzCheck(false, "expat unavailable: \(why)")
        case .malformed(let m): fuzzCheck(!m.isEmpty, "empty malformed message")
        case .doctypeForbidden, .tooDeep, .tooLarge: break
        }
    }

    let transport = CannedTransport(body: body)
    let ec2 = EC2Client(region: "us-west-2", endpoint: "http://127.0.0.1:5000", transport: transport,
                        credentials: { () throws(AWSError) -> AWSCredentials in fuzzCredentials }, clock: FrozenClock(),
                        random: HalfRandom(), retryPolicy: RetryPolicy(maxAttempts: 2),
                        deadline: Deadline(seconds: 30, clock: FrozenClock()))

    // Error document (HTTP 400): always a service error with a code; never the secret.
    transport.status = 400
    expectAWSError { _ = try ec2.describeNetworkInterfaces(ids: ["eni-0123456789abcdef0"]) }

    transport.status = 200
    // A body that does not parse fails every call the same way: one call covers it.
    expectAWSError { for eni in try ec2.describeNetworkInterfaces() { checkENI(eni) } }
    guard let root else { return 0 }
    // Each call signs its request (the costly part), so only the calls whose decoder finds something to read in
    // this document run: the others would see the same document and decode nothing.
    let top = Set(root.children.map(\.name))
    if top.contains("subnetSet") {
        expectAWSError {
            for s in try ec2.describeSubnets(ids: ["subnet-1"]) {
                fuzzCheck(isTrimmedNonEmpty(s.id), "subnet id \(s.id)")
            }
        }
    }
    if top.contains("reservationSet") {
        expectAWSError {
            if let i = try ec2.describeInstance(id: "i-1") {
                fuzzCheck(isTrimmedNonEmpty(i.id), "instance id \(i.id)")
                i.networkInterfaces.forEach(checkENI)
            }
        }
    }
    if top.contains("instanceTypeSet") {
        expectAWSError {
            for t in try ec2.describeInstanceTypes(["m5.large"]) {
                fuzzCheck(isTrimmedNonEmpty(t.instanceType) && !t.networkCards.isEmpty, "instance type \(t)")
            }
        }
    }
    if !top.isDisjoint(with: ["networkInterfaceId", "assignedPrivateIpAddressesSet", "assignedIpv4PrefixSet"]) {
        expectAWSError { checkChange(try ec2.assignPrivateIPAddresses(networkInterfaceID: "eni-1", count: 2)) }
    }
    if !top.isDisjoint(with: ["networkInterfaceId", "assignedIpv6Addresses", "assignedIpv6PrefixSet"]) {
        expectAWSError { checkChange(try ec2.assignIPv6Addresses(networkInterfaceID: "eni-1", count: 1)) }
    }
    if !top.isDisjoint(with: ["networkInterfaceId", "unassignedIpv6Addresses", "unassignedIpv6PrefixSet"]) {
        expectAWSError { checkChange(try ec2.unassignIPv6Addresses(networkInterfaceID: "eni-1", addresses: ["::1"])) }
    }
    if top.contains("return") {
        expectAWSError { try ec2.unassignPrivateIPAddresses(networkInterfaceID: "eni-1", addresses: ["10.0.0.1"]) }
    }
    if top.contains("networkInterface") {
        expectAWSError { checkENI(try ec2.createNetworkInterface(subnetID: "subnet-1")) }
    }
    if top.contains("attachmentId") {
        expectAWSError {
            let a = try ec2.attachNetworkInterface(networkInterfaceID: "eni-1", instanceID: "i-1", deviceIndex: 1)
            fuzzCheck(isTrimmedNonEmpty(a.attachmentID), "attachment id \(a.attachmentID)")
        }
    }
    guard root.first("Credentials") != nil || root.first("Error") != nil else { return 0 }

    // STS AssumeRoleWithWebIdentity: the credential chain's XML path, including the Expiration timestamp.
    let chain = CredentialChain(
        environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/fuzz/token", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/fuzz"],
        transport: transport, clock: FrozenClock(), random: HalfRandom(),
        deadline: Deadline(seconds: 30, clock: FrozenClock()), imds: nil, region: "us-west-2",
        retryPolicy: RetryPolicy(maxAttempts: 2),
        readFile: { (_: String) throws(AWSError) -> [UInt8] in Array(fuzzWebToken.utf8) })
    do {
        let c = try chain.credentials()
        fuzzCheck(!c.accessKeyID.isEmpty && !c.secretAccessKey.isEmpty, "empty STS credentials accepted")
    } catch {
        fuzzCheck(!error.description.contains(fuzzWebToken), "web identity token in an error: \(error)")
    }
    return 0
}

let fuzzCredentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     sessionToken: "FwoGZXIvYXdzEFUZUZZSESSIONTOKEN", expiration: nil)
let fuzzWebToken = "eyJhbGciOiJSUzI1NiJ9.FUZZWEBIDENTITYTOKEN.c2lnbmF0dXJl"

/// Runs one client call; any error must be an AWSError without the secret key or the session token.
func expectAWSError(_ body: () throws -> Void) {
    do {
        try body()
    } catch let error as AWSError {
        let d = error.description
        fuzzCheck(!d.contains(fuzzCredentials.secretAccessKey) && !d.contains(fuzzCredentials.sessionToken!),
                  "secret in an error: \(d)")
        if case .service(let code, _, let status, _) = error {
            fuzzCheck(!code.isEmpty && (status == 400 || status == 200), "service error \(error)")
        }
    } catch {
        fuzzCheck(false, "not an AWSError: \(error)")
    }
}

func isTrimmedNonEmpty(_ s: String) -> Bool {
    guard let f = s.utf8.first, let l = s.utf8.last else { return false }
    let ws: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
    return !ws.contains(f) && !ws.contains(l)
}

func checkENI(_ e: NetworkInterface) {
    fuzzCheck(isTrimmedNonEmpty(e.id), "ENI id \(e.id)")
    fuzzCheck(e.privateIPs.allSatisfy { isTrimmedNonEmpty($0.address) }, "ENI private IPs \(e.privateIPs)")
    fuzzCheck(e.ipv6Addresses.allSatisfy(isTrimmedNonEmpty), "ENI IPv6 \(e.ipv6Addresses)")
    if let m = e.macAddress { fuzzCheck(m == m.lowercased() && isTrimmedNonEmpty(m), "MAC \(m)") }
    if let a = e.attachment { fuzzCheck(isTrimmedNonEmpty(a.id), "attachment id \(a.id)") }
    fuzzCheck(e.groups.allSatisfy(isTrimmedNonEmpty), "groups \(e.groups)")
}

func checkChange(_ c: AddressChange) {
    if let id = c.networkInterfaceID { fuzzCheck(isTrimmedNonEmpty(id), "change ENI id \(id)") }
}

/// Answers every request with the fuzz input.
final class CannedTransport: HTTPTransport {
    let body: [UInt8]
    var status = 200
    init(body: [UInt8]) { self.body = body }
    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", "text/xml;charset=UTF-8")], body: body)
    }
}

/// Time stands still: no deadline passes, retry sleeps return at once.
struct FrozenClock: AWSClock {
    func now() -> Double { 1_700_000_000 }
    func monotonic() -> Double { 1000 }
    func sleep(seconds: Double) {}
}

struct HalfRandom: AWSRandom {
    func unit() -> Double { 0.5 }
}

// MARK: - printing a parsed document back

/// Prints an element tree as XML that parses back to the same tree: every element name gets the prefix `p:`
/// (names are stored without their prefix, and a local name alone need not be a valid XML name), attributes
/// in sorted order, the element's text before its children (text is stored concatenated).
func xmlDocument(_ e: XMLElement) -> [UInt8] {
    var out: [UInt8] = []
    write(e, into: &out)
    return out
}

private func write(_ e: XMLElement, into out: inout [UInt8]) {
    out += Array("<p:\(e.name)".utf8)
    for (k, v) in e.attributes.sorted(by: { $0.key < $1.key }) {
        out += Array(" \(k)=\"".utf8)
        escape(v, attribute: true, into: &out)
        out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: ">"))
    escape(e.text, attribute: false, into: &out)
    for c in e.children { write(c, into: &out) }
    out += Array("</p:\(e.name)>".utf8)
}

private func escape(_ s: String, attribute: Bool, into out: inout [UInt8]) {
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "&"): out += Array("&amp;".utf8)
        case UInt8(ascii: "<"): out += Array("&lt;".utf8)
        case UInt8(ascii: ">"): out += Array("&gt;".utf8)
        case UInt8(ascii: "\""): out += Array("&quot;".utf8)
        case 0x0D: out += Array("&#13;".utf8)
        case 0x09 where attribute: out += Array("&#9;".utf8)
        case 0x0A where attribute: out += Array("&#10;".utf8)
        default: out.append(b)
        }
    }
}
