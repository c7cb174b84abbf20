import AWS
import NetTypes

/// `ENIRegistry` over the real AWS layer: IMDSv2 for this instance's ENIs, EC2 for their state and assignments.
/// One transport (one libcurl handle, loaded on first use), one deadline, one credential chain per invocation.
final class AWSENIRegistry: ENIRegistry {
    let imds: IMDSClient
    let ec2: EC2Client

    init(environment: [String: String], timeoutSeconds: Double) throws {
        let transport = CurlTransport()
        let clock = SystemClock()
        let random = SystemRandom()
        let deadline = Deadline(seconds: timeoutSeconds, clock: clock)
        imds = IMDSClient.fromEnvironment(environment, transport: transport, clock: clock, deadline: deadline)
        let region = try EC2Client.resolveRegion(environment: environment, imds: imds)
        let chain = CredentialChain(environment: environment, transport: transport, clock: clock, random: random,
                                    deadline: deadline, imds: imds, region: region)
        ec2 = EC2Client(region: region, endpoint: EC2Client.resolveEndpoint(environment: environment, region: region),
                        transport: transport, credentials: { () throws(AWSError) -> AWSCredentials in try chain.credentials() },
                        clock: clock, random: random, retryPolicy: RetryPolicy.resolve(environment: environment),
                        deadline: deadline)
    }

    func localENIs() throws -> [LocalENI] {
        try imds.macs().compactMap { mac -> LocalENI? in
            let base = "network/interfaces/macs/\(mac)/"
            guard let parsed = MACAddress(mac), let id = try imds.metadata(base + "interface-id"),
                  let dev = try imds.metadata(base + "device-number").flatMap({ Int($0) }) else { return nil }
            return LocalENI(mac: parsed, id: id, deviceIndex: dev, subnetID: try imds.metadata(base + "subnet-id") ?? "")
        }
    }

    func localAddresses(mac: MACAddress) throws -> [IPAddress] {
        (try imds.localIPv4s(mac: mac.description) + imds.ipv6s(mac: mac.description)).compactMap { IPAddress($0) }
    }

    static func remote(_ n: NetworkInterface) -> RemoteENI {
        RemoteENI(id: n.id, subnetID: n.subnetID ?? "", deviceIndex: n.attachment?.deviceIndex, tags: n.tags,
                  ipv4: n.privateIPs.compactMap { IPAddress($0.address) },
                  ipv6: n.ipv6Addresses.compactMap { IPAddress($0) })
    }

    func describe(ids: [String]) throws -> [RemoteENI] {
        guard !ids.isEmpty else { return [] }
        return try ec2.describeNetworkInterfaces(ids: ids).map(Self.remote)
    }

    func describe(subnetID: String) throws -> [RemoteENI] {
        try ec2.describeNetworkInterfaces(filters: [EC2Filter("subnet-id", [subnetID])]).map(Self.remote)
    }

    func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [RemoteENI] {
        try describe(ids: ids).filter { $0.tags[tagKey] == value }
    }

    func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
        try ec2.assignPrivateIPAddresses(networkInterfaceID: eni, addresses: ipv4.map(\.description),
                                         allowReassignment: allowReassignment)
    }

    func unassign(ipv4: [IPAddress], from eni: String) throws {
        try ec2.unassignPrivateIPAddresses(networkInterfaceID: eni, addresses: ipv4.map(\.description))
    }

    func assign(ipv6: [IPAddress], to eni: String) throws {
        try ec2.assignIPv6Addresses(networkInterfaceID: eni, addresses: ipv6.map(\.description))
    }

    func unassign(ipv6: [IPAddress], from eni: String) throws {
        try ec2.unassignIPv6Addresses(networkInterfaceID: eni, addresses: ipv6.map(\.description))
    }
}
