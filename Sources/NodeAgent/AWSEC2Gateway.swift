import AgentProtocol
import AWS
import NetTypes

/// `EC2Gateway` over the real AWS layer: IMDSv2 for this instance's ENIs, EC2 for their state and assignments.
/// One transport (one libcurl handle, loaded on first use, its connections kept), one credential chain (cached
/// until shortly before expiry). The node agent keeps one for its whole life and gives every request its own
/// deadline (`setDeadline`); a one-shot command (reconcile) makes one with one deadline.
public final class AWSEC2Gateway: EC2Gateway {
    let imds: IMDSClient
    let ec2: EC2Client
    let chain: CredentialChain

    /// Bounds every later call by `seconds` from now (the agent: per request).
    public func setDeadline(seconds: Double) {
        let d = Deadline(seconds: seconds, clock: SystemClock())
        imds.deadline = d
        ec2.deadline = d
        chain.deadline = d
    }

    public init(environment: [String: String], timeoutSeconds: Double) throws {
        let transport = CurlTransport()
        let clock = SystemClock()
        let random = SystemRandom()
        let c = try AWSClients(environment: environment, deadline: Deadline(seconds: timeoutSeconds, clock: clock),
                               transport: transport, clock: clock, random: random)
        imds = c.imds
        chain = c.credentials
        ec2 = c.ec2
    }

    /// What IMDS said about each MAC: a MAC is one ENI's for ever, and its device number and subnet stay while it
    /// is attached, so after the first read only the list of MACs is fetched (a detached and re-attached ENI is
    /// read again: its MAC left the list in between, or its interface id no longer matches).
    private var seenMACs: [String: InstanceENI] = [:]
    private var subnetsByMAC: [MACAddress: (read: Double, cidrs: [IPPrefix])] = [:]
    private let clock = SystemClock()

    public func instanceENIs() throws -> [InstanceENI] {
        let macs = try imds.macs()
        seenMACs = seenMACs.filter { macs.contains($0.key) }
        return try macs.compactMap { mac -> InstanceENI? in
            if let known = seenMACs[mac] { return known }
            let base = "network/interfaces/macs/\(mac)/"
            guard let parsed = MACAddress(mac), let id = try imds.metadata(base + "interface-id"),
                  let dev = try imds.metadata(base + "device-number").flatMap({ Int($0) }) else { return nil }
            let e = InstanceENI(mac: parsed, id: id, deviceIndex: dev, subnetID: try imds.metadata(base + "subnet-id") ?? "")
            seenMACs[mac] = e
            return e
        }
    }

    public func localAddresses(mac: MACAddress) throws -> [IPAddress] {
        (try imds.localIPv4s(mac: mac.description) + imds.ipv6s(mac: mac.description)).compactMap { IPAddress($0) }
    }

    static func described(_ n: NetworkInterface) -> ENIDescription {
        ENIDescription(id: n.id, subnetID: n.subnetID ?? "", deviceIndex: n.attachment?.deviceIndex, tags: n.tags,
                  ipv4: n.secondaryIPv4s.compactMap { IPAddress($0) },
                  ipv6: n.ipv6Addresses.compactMap { IPAddress($0) },
                  primaryIPv4: n.primaryIPv4.flatMap { IPAddress($0) },
                  prefixes: (n.ipv4Prefixes + n.ipv6Prefixes).compactMap { IPPrefix($0) })
    }

    public func describe(ids: [String]) throws -> [ENIDescription] {
        guard !ids.isEmpty else { return [] }
        return try ec2.describeNetworkInterfaces(ids: ids).map(Self.described)
    }

    public func describe(subnetID: String) throws -> [ENIDescription] {
        try ec2.describeNetworkInterfaces(filters: [EC2Filter("subnet-id", [subnetID])]).map(Self.described)
    }

    public func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [ENIDescription] {
        try describe(ids: ids).filter { $0.tags[tagKey] == value }
    }

    /// EC2's "that address is held by an ENI" answers, as `AddressInUse` (the caller then looks at the holder).
    static func inUse(_ e: AWSError, _ addresses: [IPAddress]) -> any Error {
        guard case .service(let code, let message, _, _) = e else { return e }
        let m = message.lowercased()
        // A secondary address of another ENI: InvalidParameterValue "… assigned, but move is not allowed."; a primary
        // address or one inside a prefix: InvalidIPAddress.InUse.
        if code == "InvalidIPAddress.InUse" || code == "InvalidParameterValue"
            && (m.contains("in use") || m.contains("already assigned") || m.contains("move is not allowed")) {
            return AddressInUse(addresses: addresses, detail: "\(code): \(message)")
        }
        return e
    }

    public func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
        do {
            try ec2.assignPrivateIPAddresses(networkInterfaceID: eni, addresses: ipv4.map(\.description),
                                             allowReassignment: allowReassignment)
        } catch { throw Self.inUse(error, ipv4) }
    }

    public func unassign(ipv4: [IPAddress], from eni: String) throws {
        try ec2.unassignPrivateIPAddresses(networkInterfaceID: eni, addresses: ipv4.map(\.description))
    }

    public func assign(ipv6: [IPAddress], to eni: String) throws {
        do {
            try ec2.assignIPv6Addresses(networkInterfaceID: eni, addresses: ipv6.map(\.description))
        } catch { throw Self.inUse(error, ipv6) }
    }

    public func unassign(ipv6: [IPAddress], from eni: String) throws {
        try ec2.unassignIPv6Addresses(networkInterfaceID: eni, addresses: ipv6.map(\.description))
    }

    public func assign(count: Int, v4: Bool, to eni: String) throws -> [IPAddress] {
        let change = v4 ? try ec2.assignPrivateIPAddresses(networkInterfaceID: eni, count: count)
                        : try ec2.assignIPv6Addresses(networkInterfaceID: eni, count: count)
        return try Self.exactly(count, change.addresses.compactMap { IPAddress($0) }, "address(es)", eni)
    }

    public func assignPrefixes(count: Int, v4: Bool, to eni: String) throws -> [IPPrefix] {
        let change = v4 ? try ec2.assignPrivateIPAddresses(networkInterfaceID: eni, prefixCount: count)
                        : try ec2.assignIPv6Addresses(networkInterfaceID: eni, prefixCount: count)
        return try Self.exactly(count, change.prefixes.compactMap { IPPrefix($0) }, "prefix(es)", eni)
    }

    /// AWS lists only what a count-based assign gave; anything but exactly `count` is not an answer we can use.
    private static func exactly<T>(_ count: Int, _ got: [T], _ what: String, _ eni: String) throws -> [T] {
        guard got.count == count else {
            throw AWSError.malformedResponse("asked EC2 for \(count) \(what) on \(eni), it reported \(got.count)")
        }
        return got
    }

    public func unassign(prefixes: [IPPrefix], from eni: String) throws {
        let v4 = prefixes.filter(\.address.isV4).map(\.description)
        let v6 = prefixes.filter { !$0.address.isV4 }.map(\.description)
        if !v4.isEmpty { try ec2.unassignPrivateIPAddresses(networkInterfaceID: eni, prefixes: v4) }
        if !v6.isEmpty { try ec2.unassignIPv6Addresses(networkInterfaceID: eni, prefixes: v6) }
    }

    public func subnets(mac: MACAddress) throws -> [IPPrefix] {
        if let known = subnetsByMAC[mac], seenMACs[mac.description] != nil, clock.monotonic() - known.read < 300 {
            return known.cidrs
        }
        let base = "network/interfaces/macs/\(mac)/"
        let v4 = try imds.metadataList(base + "subnet-ipv4-cidr-block")
        let v6 = try imds.metadataList(base + "subnet-ipv6-cidr-blocks")
        let all = (v4 + v6).compactMap { IPPrefix($0) }
        // Kept 5 minutes while the MAC is known attached (a subnet that gains an IPv6 block is seen within that).
        if seenMACs[mac.description] != nil { subnetsByMAC[mac] = (clock.monotonic(), all) }
        return all
    }

    public func localPrefixes(mac: MACAddress) throws -> [IPPrefix] {
        let base = "network/interfaces/macs/\(mac)/"
        return (try imds.metadataList(base + "ipv4-prefix") + imds.metadataList(base + "ipv6-prefix")).compactMap { IPPrefix($0) }
    }

    public func addressLimits() throws -> AddressLimits {
        let type = try imds.instanceType()
        let info = try ec2.describeInstanceType(type)
        return AddressLimits(instanceType: type, ipv4PerENI: info.ipv4AddressesPerInterface,
                             ipv6PerENI: info.ipv6AddressesPerInterface)
    }

    public func checkCredentials() throws { _ = try chain.credentials() }

    /// EC2 requests sent so far (retries included), and how many of them EC2 throttled.
    public var ec2Attempts: Int { ec2.attempts.count }
    public var ec2Throttles: Int { ec2.throttles }
}
