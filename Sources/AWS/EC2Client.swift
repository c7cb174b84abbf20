/// The EC2 Query API (version 2016-11-15): SigV4-signed `POST /` with a form-encoded body, XML responses, standard
/// retries under a per-invocation deadline.
///
/// One client per plugin invocation. Every call shares the client's `deadline`; each attempt's HTTP timeout is the
/// time left before it.
public final class EC2Client {
    public static let apiVersion = "2016-11-15"
    /// Pages followed by a paginated describe before the response is treated as malformed.
    public static let maxPages = 100

    public let region: String
    /// Base URL, without a trailing slash (`https://ec2.us-west-2.amazonaws.com`, `http://127.0.0.1:5000`).
    public let endpoint: String
    public var deadline: Deadline
    public let retrier: Retrier

    private let transport: any HTTPTransport
    private let credentials: () throws(AWSError) -> AWSCredentials
    private let clock: any AWSClock

    /// Actions sent, one entry per HTTP attempt (retries included): what the ADD/DEL call budget is measured with.
    public private(set) var attempts: [String] = []
    /// Attempts EC2 answered with a throttling error (retried or not).
    public private(set) var throttles = 0

    public init(region: String, endpoint: String, transport: any HTTPTransport,
                credentials: @escaping () throws(AWSError) -> AWSCredentials, clock: any AWSClock,
                random: any AWSRandom, retryPolicy: RetryPolicy, deadline: Deadline)
    {
        self.region = region
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self.retrier = Retrier(policy: retryPolicy, clock: clock, random: random)
        self.deadline = deadline
    }

    // MARK: Configuration

    /// `AWS_ENDPOINT_URL_EC2` > `AWS_ENDPOINT_URL` > `https://ec2.<region>.amazonaws.com` (`.amazonaws.com.cn` in
    /// the China partition).
    public static func resolveEndpoint(environment: [String: String], region: String) -> String {
        for key in ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"] {
            if let v = environment[key]?.trimmingASCIIWhitespace(), !v.isEmpty { return v }
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return "https://ec2.\(region).\(suffix)"
    }

    /// `AWS_REGION` > `AWS_DEFAULT_REGION` > IMDS `placement/region` (only asked when the environment names none).
    public static func resolveRegion(environment: [String: String], imds: IMDSClient?) throws(AWSError) -> String {
        for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let v = environment[key]?.trimmingASCIIWhitespace(), !v.isEmpty { return v }
        }
        guard let imds else {
            throw .malformedResponse("no region: set AWS_REGION or enable the instance metadata service")
        }
        return try imds.region()
    }

    // MARK: Transport

    /// Sends one action and returns the parsed response document (errors decoded and retried as configured).
    public func call(_ action: String, _ parameters: [(String, String)]) throws(AWSError) -> XMLElement {
        let body = Array(QueryEncoding.encode([("Action", action), ("Version", Self.apiVersion)] + parameters).utf8)
        let url = endpoint + "/"
        let signer = SigV4Signer(service: "ec2", region: region)
        // Resolve credentials once up front: their sources retry on their own, and a failure must not be
        // multiplied by this call's retries. Inside the loop the (cached) value is re-read in case it expires.
        let first = try credentials()
        do {
            return try send(action, body: body, url: url, signer: signer)
        } catch {
            throw error.scrubbing([first.secretAccessKey, first.sessionToken ?? ""])
        }
    }

    private func send(_ action: String, body: [UInt8], url: String, signer: SigV4Signer) throws(AWSError) -> XMLElement {
        return try retrier.run(deadline: deadline) { (_, timeout) throws(AWSError) -> XMLElement in
            let creds = try credentials()
            var request = HTTPRequest(
                method: "POST", url: url,
                headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                body: body, timeout: timeout)
            do throws(TransportError) {
                try signer.sign(&request, credentials: creds, date: clock.now())
            } catch {
                throw AWSError.transport(error)
            }
            attempts.append(action)
            let response: HTTPResponse
            do throws(TransportError) {
                response = try transport.send(request)
            } catch {
                throw AWSError.transport(error)
            }
            guard (200..<300).contains(response.status) else {
                let e = AWSError.fromErrorResponse(status: response.status, body: response.body, headers: response.headers)
                if e.isThrottling { throttles += 1 }
                throw e
            }
            do throws(XMLError) {
                return try XMLParser.parse(response.body)
            } catch {
                throw AWSError.malformedResponse("\(action): \(error)")
            }
        }
    }

    // MARK: Describe

    /// `DescribeNetworkInterfaces` by ids and/or filters, following `NextToken`. With ids only, no `MaxResults`
    /// (EC2 refuses the two together); otherwise pages of 1000.
    public func describeNetworkInterfaces(ids: [String] = [], filters: [EC2Filter] = [])
        throws(AWSError) -> [NetworkInterface]
    {
        var out: [NetworkInterface] = []
        try paginate(
            "DescribeNetworkInterfaces", listName: "networkInterfaceSet", paginated: ids.isEmpty,
            { (p: inout [(String, String)]) in
                Self.indexed(&p, "NetworkInterfaceId", ids)
                Self.filters(&p, filters)
            },
            { (item) throws(AWSError) in out.append(try EC2Decode.networkInterface(item)) })
        return out
    }

    /// One ENI by id; `nil` when EC2 says `InvalidNetworkInterfaceID.NotFound`.
    public func describeNetworkInterface(id: String) throws(AWSError) -> NetworkInterface? {
        do {
            return try describeNetworkInterfaces(ids: [id]).first { $0.id == id }
        } catch {
            if error.code == "InvalidNetworkInterfaceID.NotFound" { return nil }
            throw error
        }
    }

    public func describeSubnets(ids: [String] = [], filters: [EC2Filter] = []) throws(AWSError) -> [Subnet] {
        var out: [Subnet] = []
        try paginate(
            "DescribeSubnets", listName: "subnetSet", paginated: ids.isEmpty,
            { (p: inout [(String, String)]) in
                Self.indexed(&p, "SubnetId", ids)
                Self.filters(&p, filters)
            },
            { (item) throws(AWSError) in out.append(try EC2Decode.subnet(item)) })
        return out
    }

    /// `DescribeInstances` for one instance id; `nil` when `InvalidInstanceID.NotFound`.
    public func describeInstance(id: String) throws(AWSError) -> Instance? {
        let doc: XMLElement
        do {
            doc = try call("DescribeInstances", [("InstanceId.1", id)])
        } catch {
            if error.code == "InvalidInstanceID.NotFound" { return nil }
            throw error
        }
        for reservation in doc.items("reservationSet") {
            for item in reservation.items("instancesSet") {
                let i = try EC2Decode.instance(item)
                if i.id == id { return i }
            }
        }
        return nil
    }

    public func describeInstanceTypes(_ types: [String]) throws(AWSError) -> [InstanceTypeInfo] {
        var p: [(String, String)] = []
        Self.indexed(&p, "InstanceType", types)
        let doc = try call("DescribeInstanceTypes", p)
        var out: [InstanceTypeInfo] = []
        for item in doc.items("instanceTypeSet") { out.append(try EC2Decode.instanceType(item)) }
        return out
    }

    public func describeInstanceType(_ type: String) throws(AWSError) -> InstanceTypeInfo {
        guard let info = try describeInstanceTypes([type]).first(where: { $0.instanceType == type }) else {
            throw .malformedResponse("DescribeInstanceTypes returned no entry for \(type)")
        }
        return info
    }

    // MARK: IPv4

    /// `AssignPrivateIpAddresses`. Give exactly one of `addresses` (`PrivateIpAddress.N`), `count`
    /// (`SecondaryPrivateIpAddressCount`), `prefixes` (`Ipv4Prefix.N`) or `prefixCount` (`Ipv4PrefixCount`).
    /// `allowReassignment` moves the addresses from another ENI (asynchronously: confirm in IMDS `local-ipv4s`).
    @discardableResult
    public func assignPrivateIPAddresses(networkInterfaceID: String, addresses: [String] = [], count: Int? = nil,
                                         prefixes: [String] = [], prefixCount: Int? = nil,
                                         allowReassignment: Bool = false) throws(AWSError) -> AssignedPrivateIPs
    {
        var p: [(String, String)] = [("NetworkInterfaceId", networkInterfaceID)]
        Self.indexed(&p, "PrivateIpAddress", addresses)
        if let count { p.append(("SecondaryPrivateIpAddressCount", String(count))) }
        Self.indexed(&p, "Ipv4Prefix", prefixes)
        if let prefixCount { p.append(("Ipv4PrefixCount", String(prefixCount))) }
        if allowReassignment { p.append(("AllowReassignment", "true")) }
        let doc = try call("AssignPrivateIpAddresses", p)
        return AssignedPrivateIPs(
            networkInterfaceID: EC2Decode.nonEmpty(doc, "networkInterfaceId"),
            addresses: doc.items("assignedPrivateIpAddressesSet").compactMap {
                EC2Decode.nonEmpty($0, "privateIpAddress")
            },
            prefixes: doc.items("assignedIpv4PrefixSet").compactMap { EC2Decode.nonEmpty($0, "ipv4Prefix") })
    }

    /// `UnassignPrivateIpAddresses` (`PrivateIpAddress.N`, `Ipv4Prefix.N`).
    public func unassignPrivateIPAddresses(networkInterfaceID: String, addresses: [String] = [],
                                           prefixes: [String] = []) throws(AWSError)
    {
        var p: [(String, String)] = [("NetworkInterfaceId", networkInterfaceID)]
        Self.indexed(&p, "PrivateIpAddress", addresses)
        Self.indexed(&p, "Ipv4Prefix", prefixes)
        try expectReturnTrue(call("UnassignPrivateIpAddresses", p), "UnassignPrivateIpAddresses")
    }

    // MARK: IPv6

    /// `AssignIpv6Addresses` (`Ipv6Addresses.N` | `Ipv6AddressCount`, `Ipv6Prefix.N` | `Ipv6PrefixCount`). There is
    /// no reassignment flag: unassign from the previous holder first.
    @discardableResult
    public func assignIPv6Addresses(networkInterfaceID: String, addresses: [String] = [], count: Int? = nil,
                                    prefixes: [String] = [], prefixCount: Int? = nil) throws(AWSError) -> IPv6Change
    {
        var p: [(String, String)] = [("NetworkInterfaceId", networkInterfaceID)]
        Self.indexed(&p, "Ipv6Addresses", addresses)
        if let count { p.append(("Ipv6AddressCount", String(count))) }
        Self.indexed(&p, "Ipv6Prefix", prefixes)
        if let prefixCount { p.append(("Ipv6PrefixCount", String(prefixCount))) }
        let doc = try call("AssignIpv6Addresses", p)
        return IPv6Change(
            networkInterfaceID: EC2Decode.nonEmpty(doc, "networkInterfaceId"),
            addresses: doc.items("assignedIpv6Addresses").map { $0.text.trimmingASCIIWhitespace() },
            prefixes: doc.items("assignedIpv6PrefixSet").map { $0.text.trimmingASCIIWhitespace() })
    }

    /// `UnassignIpv6Addresses` (`Ipv6Addresses.N`, `Ipv6Prefix.N`).
    @discardableResult
    public func unassignIPv6Addresses(networkInterfaceID: String, addresses: [String] = [],
                                      prefixes: [String] = []) throws(AWSError) -> IPv6Change
    {
        var p: [(String, String)] = [("NetworkInterfaceId", networkInterfaceID)]
        Self.indexed(&p, "Ipv6Addresses", addresses)
        Self.indexed(&p, "Ipv6Prefix", prefixes)
        let doc = try call("UnassignIpv6Addresses", p)
        return IPv6Change(
            networkInterfaceID: EC2Decode.nonEmpty(doc, "networkInterfaceId"),
            addresses: doc.items("unassignedIpv6Addresses").map { $0.text.trimmingASCIIWhitespace() },
            prefixes: doc.items("unassignedIpv6PrefixSet").map { $0.text.trimmingASCIIWhitespace() })
    }

    // MARK: ENI lifecycle

    /// `CreateNetworkInterface` with the tags applied at creation (`TagSpecification.1.ResourceType=
    /// network-interface`), so the VPC CNI never sees it untagged.
    public func createNetworkInterface(subnetID: String, securityGroupIDs: [String] = [], description: String? = nil,
                                       tags: [EC2Tag] = []) throws(AWSError) -> NetworkInterface
    {
        var p: [(String, String)] = [("SubnetId", subnetID)]
        Self.indexed(&p, "SecurityGroupId", securityGroupIDs)
        if let description { p.append(("Description", description)) }
        if !tags.isEmpty {
            p.append(("TagSpecification.1.ResourceType", "network-interface"))
            Self.tags(&p, prefix: "TagSpecification.1.Tag", tags)
        }
        let doc = try call("CreateNetworkInterface", p)
        guard let eni = doc.child("networkInterface") else {
            throw .malformedResponse("CreateNetworkInterface without networkInterface")
        }
        return try EC2Decode.networkInterface(eni)
    }

    /// `AttachNetworkInterface` (`DeviceIndex`, optional `NetworkCardIndex`).
    public func attachNetworkInterface(networkInterfaceID: String, instanceID: String, deviceIndex: Int,
                                       networkCardIndex: Int? = nil) throws(AWSError) -> AttachResult
    {
        var p: [(String, String)] = [
            ("NetworkInterfaceId", networkInterfaceID), ("InstanceId", instanceID), ("DeviceIndex", String(deviceIndex)),
        ]
        if let networkCardIndex { p.append(("NetworkCardIndex", String(networkCardIndex))) }
        let doc = try call("AttachNetworkInterface", p)
        guard let id = EC2Decode.nonEmpty(doc, "attachmentId") else {
            throw .malformedResponse("AttachNetworkInterface without attachmentId")
        }
        return AttachResult(attachmentID: id, networkCardIndex: EC2Decode.int(doc, "networkCardIndex"))
    }

    public func detachNetworkInterface(attachmentID: String, force: Bool = false) throws(AWSError) {
        var p: [(String, String)] = [("AttachmentId", attachmentID)]
        if force { p.append(("Force", "true")) }
        try expectReturnTrue(call("DetachNetworkInterface", p), "DetachNetworkInterface")
    }

    public func deleteNetworkInterface(id: String) throws(AWSError) {
        try expectReturnTrue(call("DeleteNetworkInterface", [("NetworkInterfaceId", id)]), "DeleteNetworkInterface")
    }

    /// `ModifyNetworkInterfaceAttribute` with `SourceDestCheck.Value`.
    public func modifySourceDestCheck(networkInterfaceID: String, enabled: Bool) throws(AWSError) {
        try expectReturnTrue(
            call("ModifyNetworkInterfaceAttribute", [
                ("NetworkInterfaceId", networkInterfaceID), ("SourceDestCheck.Value", enabled ? "true" : "false"),
            ]), "ModifyNetworkInterfaceAttribute")
    }

    /// `ModifyNetworkInterfaceAttribute` with `Attachment.AttachmentId` + `Attachment.DeleteOnTermination`.
    public func modifyDeleteOnTermination(networkInterfaceID: String, attachmentID: String, deleteOnTermination: Bool)
        throws(AWSError)
    {
        try expectReturnTrue(
            call("ModifyNetworkInterfaceAttribute", [
                ("NetworkInterfaceId", networkInterfaceID), ("Attachment.AttachmentId", attachmentID),
                ("Attachment.DeleteOnTermination", deleteOnTermination ? "true" : "false"),
            ]), "ModifyNetworkInterfaceAttribute")
    }

    /// `CreateTags` (`ResourceId.N`, `Tag.N.Key`, `Tag.N.Value`).
    public func createTags(resourceIDs: [String], tags: [EC2Tag]) throws(AWSError) {
        var p: [(String, String)] = []
        Self.indexed(&p, "ResourceId", resourceIDs)
        Self.tags(&p, prefix: "Tag", tags)
        try expectReturnTrue(call("CreateTags", p), "CreateTags")
    }

    // MARK: Helpers

    static func indexed(_ p: inout [(String, String)], _ name: String, _ values: [String]) {
        for (i, v) in values.enumerated() { p.append(("\(name).\(i + 1)", v)) }
    }

    static func filters(_ p: inout [(String, String)], _ filters: [EC2Filter]) {
        for (i, f) in filters.enumerated() {
            p.append(("Filter.\(i + 1).Name", f.name))
            for (j, v) in f.values.enumerated() { p.append(("Filter.\(i + 1).Value.\(j + 1)", v)) }
        }
    }

    static func tags(_ p: inout [(String, String)], prefix: String, _ tags: [EC2Tag]) {
        for (i, t) in tags.enumerated() {
            p.append(("\(prefix).\(i + 1).Key", t.key))
            p.append(("\(prefix).\(i + 1).Value", t.value))
        }
    }

    /// Mutations answer `<return>true</return>`; `false` means EC2 did not do it.
    private func expectReturnTrue(_ doc: XMLElement, _ action: String) throws(AWSError) {
        if let r = doc.string("return")?.trimmingASCIIWhitespace(), r != "true" {
            // Never echo what the service sent (a hostile endpoint may send the credentials back).
            throw .malformedResponse(r == "false" ? "\(action) returned false" : "\(action) returned \(r.utf8.count) bytes instead of true")
        }
    }

    private func paginate(_ action: String, listName: String, paginated: Bool,
                          _ build: (inout [(String, String)]) -> Void,
                          _ each: (XMLElement) throws(AWSError) -> Void) throws(AWSError)
    {
        var token: String? = nil
        var seen: Set<String> = []
        for _ in 0..<Self.maxPages {
            var p: [(String, String)] = []
            if paginated { p.append(("MaxResults", "1000")) }
            if let token { p.append(("NextToken", token)) }
            build(&p)
            let doc = try call(action, p)
            for item in doc.items(listName) { try each(item) }
            guard let next = EC2Decode.nonEmpty(doc, "nextToken") else { return }
            guard seen.insert(next).inserted else {
                throw .malformedResponse("\(action) repeated a NextToken")
            }
            token = next
        }
        throw .malformedResponse("\(action) returned more than \(Self.maxPages) pages")
    }
}
