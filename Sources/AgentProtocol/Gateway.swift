import NetTypes

// The vocabulary the plugin and the node agent share: the EC2 and IMDS operations the plugin needs, the values
// they return and the errors they throw. The plugin calls them through `AgentGateway` (one request per call on the
// agent's socket); the agent runs them against AWS. Nothing here links AWS, HTTP, TLS or XML code.

/// What IMDS says about one ENI of this instance (just what selection needs: three reads per MAC).
public struct InstanceENI: Equatable, Sendable {
    public var mac: MACAddress
    public var id: String
    public var deviceIndex: Int
    public var subnetID: String
    public init(mac: MACAddress, id: String, deviceIndex: Int, subnetID: String) {
        self.mac = mac
        self.id = id
        self.deviceIndex = deviceIndex
        self.subnetID = subnetID
    }
}

/// What EC2 says about an ENI.
public struct ENIDescription: Equatable, Sendable {
    public var id: String
    public var subnetID: String
    public var deviceIndex: Int?
    public var tags: [String: String]
    /// Secondary IPv4 addresses (the primary one is never ours) and IPv6 addresses; empty when `known` is false.
    public var ipv4: [IPAddress]
    public var ipv6: [IPAddress]
    public var primaryIPv4: IPAddress?
    public var prefixes: [IPPrefix]
    /// False when the ENI came from the verification cache (addresses not read from EC2).
    public var known: Bool

    public init(id: String, subnetID: String, deviceIndex: Int?, tags: [String: String], ipv4: [IPAddress],
                ipv6: [IPAddress], primaryIPv4: IPAddress? = nil, prefixes: [IPPrefix] = [], known: Bool = true) {
        self.id = id
        self.subnetID = subnetID
        self.deviceIndex = deviceIndex
        self.tags = tags
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.primaryIPv4 = primaryIPv4
        self.prefixes = prefixes
        self.known = known
    }
}

/// The instance type's per-ENI address limits (`DescribeInstanceTypes`), cached per node.
public struct AddressLimits: Equatable, Sendable {
    public var instanceType: String
    public var ipv4PerENI: Int
    public var ipv6PerENI: Int
    public init(instanceType: String, ipv4PerENI: Int, ipv6PerENI: Int) {
        self.instanceType = instanceType
        self.ipv4PerENI = ipv4PerENI
        self.ipv6PerENI = ipv6PerENI
    }
}

/// The EC2 and IMDS operations registration needs. The node agent implements it over AWS; the plugin reaches it
/// through the agent's socket (`AgentGateway`); tests replace it with an in-memory model.
public protocol EC2Gateway: AnyObject {
    func instanceENIs() throws -> [InstanceENI]
    /// IMDS `local-ipv4s` and `ipv6s` of one MAC: where an assignment shows that it has landed.
    func localAddresses(mac: MACAddress) throws -> [IPAddress]
    func describe(ids: [String]) throws -> [ENIDescription]
    func describe(subnetID: String) throws -> [ENIDescription]
    func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [ENIDescription]
    func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws
    func unassign(ipv4: [IPAddress], from eni: String) throws
    func assign(ipv6: [IPAddress], to eni: String) throws
    func unassign(ipv6: [IPAddress], from eni: String) throws
    /// EC2 chooses `count` free addresses of the family for the ENI (`SecondaryPrivateIpAddressCount`,
    /// `Ipv6AddressCount`); returns them.
    func assign(count: Int, v4: Bool, to eni: String) throws -> [IPAddress]
    /// Assigns `count` prefixes (IPv4 /28, IPv6 /80) to the ENI; returns them.
    func assignPrefixes(count: Int, v4: Bool, to eni: String) throws -> [IPPrefix]
    func unassign(prefixes: [IPPrefix], from eni: String) throws
    /// IMDS: the subnet CIDRs of the ENI with this MAC (IPv4 first, then IPv6), and its prefixes.
    func subnets(mac: MACAddress) throws -> [IPPrefix]
    func localPrefixes(mac: MACAddress) throws -> [IPPrefix]
    /// IMDS `instance-type` and EC2 `DescribeInstanceTypes`.
    func addressLimits() throws -> AddressLimits
    /// Whether credentials can be obtained (no EC2 call).
    func checkCredentials() throws
}

extension EC2Gateway {
    /// Unassigns addresses of both families from the ENI: one call per family present.
    public func unassign(_ addresses: [IPAddress], from eni: String) throws {
        let v4 = addresses.filter(\.isV4), v6 = addresses.filter { !$0.isV4 }
        if !v4.isEmpty { try unassign(ipv4: v4, from: eni) }
        if !v6.isEmpty { try unassign(ipv6: v6, from: eni) }
    }
}

/// The gateway's answer when EC2 refuses an explicit address because an ENI already holds it
/// (`InvalidIPAddress.InUse`, or `InvalidParameterValue` "... in use"/"already assigned").
public struct AddressInUse: Error, CustomStringConvertible, Equatable {
    public var addresses: [IPAddress]
    public var detail: String
    public init(addresses: [IPAddress], detail: String) {
        self.addresses = addresses
        self.detail = detail
    }
    public var description: String { "EC2: \(addresses.map(\.description).joined(separator: ", ")) in use: \(detail)" }
}

/// An EC2 or IMDS call that failed in the agent, as the plugin sees it: the AWS layer's words and how to treat
/// them (`retryable`: throttling, 5xx, a transport failure; `tryAgainLater`: the runtime should retry the verb).
public struct EC2CallFailure: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var retryable: Bool
    public var tryAgainLater: Bool
    /// EC2 answered with a throttling code (RequestLimitExceeded): the account's request bucket is empty.
    public var throttled: Bool
    public init(message: String, retryable: Bool, tryAgainLater: Bool, throttled: Bool = false) {
        self.message = message
        self.retryable = retryable
        self.tryAgainLater = tryAgainLater
        self.throttled = throttled
    }
    public var description: String { message }
}

/// The agent could not be asked: no socket, refused, a peer that is not the agent, no answer in time, or an
/// answer in another protocol version. Nothing was asked of EC2 by this request (or its outcome is unknown, and
/// then the write-ahead ledger makes the difference).
public struct AgentUnreachable: Error, CustomStringConvertible, Equatable {
    public var socket: String
    public var reason: String
    public init(socket: String, reason: String) {
        self.socket = socket
        self.reason = reason
    }
    public var description: String {
        "the eni-multus node agent at \(socket) cannot be reached: \(reason) (is the eni-multus-node agent running on this node?)"
    }
}
