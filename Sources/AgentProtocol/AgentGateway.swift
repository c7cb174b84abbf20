#if canImport(Glibc)
import Glibc
#endif
import JSON
import NetTypes

/// The plugin's `EC2Gateway`: every call is one request to the node agent, which holds the AWS session. One
/// connection per invocation, opened on the first call (verbs that never need EC2 never connect). `timeout` is the
/// deadline of the whole invocation's EC2 work (`ec2TimeoutSeconds`; DEL's 5 s): each request asks the agent for
/// what is left of it, and none is sent once it has passed.
public final class AgentGateway: AgentRequesting {
    public static let defaultSocket = "/run/eni-multus/agent.sock"

    public let socketPath: String
    /// Seconds the agent may spend on one request (its EC2 deadline); the plugin waits a little longer.
    public let timeout: Double
    private let end: Double
    private var connection: SeqPacketConnection?

    public init(socket: String, timeout: Double) {
        socketPath = socket
        self.timeout = timeout
        end = Self.monotonic() + timeout
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds left of the invocation's deadline.
    public var remaining: Double { max(0, end - Self.monotonic()) }

    /// Sends `request`, returns the agent's value; AWS failures come back as `AddressInUse` / `EC2CallFailure`.
    public func call(_ request: AgentRequest) throws -> JSON {
        let left = remaining
        guard left >= 0.05 else {
            throw EC2CallFailure(message: "EC2: the deadline of \(Int(timeout)) s passed before \(request.op) could be asked",
                                 retryable: true, tryAgainLater: true)
        }
        let c: SeqPacketConnection
        if let connection { c = connection } else {
            c = try SeqPacketConnection.connect(path: socketPath, timeout: left + 2)
            connection = c
        }
        // The agent gets what is left (it clamps to at least 1 s); the socket waits a little longer for its answer.
        c.setTimeout(left + 2)
        if let e = c.send(request.encoded(timeout: left)) {
            connection = nil
            throw AgentUnreachable(socket: socketPath, reason: "send: \(SeqPacketConnection.ReceiveError(errno: e))")
        }
        let bytes: [UInt8]
        switch c.receive() {
        case .success(let b?): bytes = b
        case .success(nil):
            connection = nil
            throw AgentUnreachable(socket: socketPath, reason: "the agent closed the connection during \(request.op)")
        case .failure(let e):
            connection = nil
            throw AgentUnreachable(socket: socketPath, reason: "\(request.op): \(e)")
        }
        let reply: AgentReply
        do { reply = try AgentReply.decode(bytes) } catch {
            throw AgentUnreachable(socket: socketPath, reason: "\(error)")
        }
        switch reply {
        case .ok(let v): return v
        case .failed(let f): throw f.error(socket: socketPath)
        }
    }

    public func decodingFailed(_ op: String, _ error: WireError) -> any Error {
        AgentUnreachable(socket: socketPath, reason: "\(op): \(error)")
    }
}

/// An `EC2Gateway` made of agent requests: the conformer answers one request (`call`); every operation is that
/// request and the decoding of its value. The plugin's `AgentGateway` (over the socket) and the agent's own
/// `BrokeredGateway` (straight into its broker) are the two.
public protocol AgentRequesting: EC2Gateway {
    func call(_ request: AgentRequest) throws -> JSON
    /// The error for a value that does not decode.
    func decodingFailed(_ op: String, _ error: WireError) -> any Error
}

extension AgentRequesting {
    public func decodingFailed(_ op: String, _ error: WireError) -> any Error { error }

    func decoded<T>(_ request: AgentRequest, _ decode: (JSON) throws(WireError) -> T) throws -> T {
        let v = try call(request)
        do { return try decode(v) } catch { throw decodingFailed(request.op, error) }
    }

    public func instanceENIs() throws -> [InstanceENI] { try decoded(.instanceENIs, Wire.instanceENIs) }
    public func localAddresses(mac: MACAddress) throws -> [IPAddress] { try decoded(.localAddresses(mac: mac), Wire.addresses) }
    public func describe(ids: [String]) throws -> [ENIDescription] {
        guard !ids.isEmpty else { return [] }
        return try decoded(.describeIDs(ids), Wire.describedENIs)
    }
    public func describe(subnetID: String) throws -> [ENIDescription] { try decoded(.describeSubnet(subnetID), Wire.describedENIs) }
    public func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [ENIDescription] {
        try decoded(.describeTag(key: tagKey, value: value, ids: ids), Wire.describedENIs)
    }
    public func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
        _ = try call(.assignIPv4(eni: eni, addresses: ipv4, allowReassignment: allowReassignment))
    }
    public func unassign(ipv4: [IPAddress], from eni: String) throws { _ = try call(.unassignIPv4(eni: eni, addresses: ipv4)) }
    public func assign(ipv6: [IPAddress], to eni: String) throws { _ = try call(.assignIPv6(eni: eni, addresses: ipv6)) }
    public func unassign(ipv6: [IPAddress], from eni: String) throws { _ = try call(.unassignIPv6(eni: eni, addresses: ipv6)) }
    public func assign(count: Int, v4: Bool, to eni: String) throws -> [IPAddress] {
        try decoded(.assignCount(eni: eni, count: count, v4: v4), Wire.addresses)
    }
    public func assignPrefixes(count: Int, v4: Bool, to eni: String) throws -> [IPPrefix] {
        try decoded(.assignPrefixes(eni: eni, count: count, v4: v4), Wire.prefixes)
    }
    public func unassign(prefixes: [IPPrefix], from eni: String) throws { _ = try call(.unassignPrefixes(eni: eni, prefixes: prefixes)) }
    public func subnets(mac: MACAddress) throws -> [IPPrefix] { try decoded(.subnets(mac: mac), Wire.prefixes) }
    public func localPrefixes(mac: MACAddress) throws -> [IPPrefix] { try decoded(.localPrefixes(mac: mac), Wire.prefixes) }
    public func addressLimits() throws -> AddressLimits { try decoded(.addressLimits, Wire.limits) }
    public func checkCredentials() throws { _ = try call(.checkCredentials) }
}
