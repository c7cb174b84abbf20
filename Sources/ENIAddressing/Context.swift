import AgentProtocol
import CNI
import NetTypes
import NodeState
import Platform
import Registration

/// The ENI a network's `eni` block selected for an attachment: where its addresses get registered, and the gateway
/// to EC2 and IMDS for this invocation.
public struct SelectedENI {
    public var config: EC2NetworkConfig
    public var gateway: EC2Gateway
    /// What IMDS lists for this instance (id, MAC, device index).
    public var attached: InstanceENI
    /// What EC2 describes (subnet, tags, addresses).
    public var described: ENIDescription

    public init(config: EC2NetworkConfig, gateway: EC2Gateway, attached: InstanceENI, described: ENIDescription) {
        self.config = config; self.gateway = gateway; self.attached = attached; self.described = described
    }
}

/// What the EC2-native IPAM modes and ENI registration need of the verb that runs them; the plugin's invocation
/// provides it. Nothing here reaches back into the plugin's core.
public protocol EC2IPAMContext {
    var key: AttachmentKey { get }
    /// `namespace/name/uid` of the pod, for the ledger.
    var podIdentity: String { get }
    /// Set once the ENI is selected.
    var registration: SelectedENI? { get }
    /// The addresses the runtime asked for (`runtimeConfig.ips`, `CNI_ARGS` IP).
    var requestedIPs: [RequestedIP] { get }
    /// Wall-clock seconds.
    var now: Int64 { get }
    func failpoint(_ name: String)
    func mutant(_ name: String) -> Bool
    func random() -> UInt64
    /// EC2 and IMDS within `seconds` from now.
    func gateway(seconds: Double) throws -> EC2Gateway
    /// One informational line in the plugin's log.
    func info(_ message: String)
}

extension EC2IPAMContext {
    /// The cooldown is a preference: when nothing else was free, ADD took this cooling address (every built-in mode).
    public func logCoolingReuse(_ address: IPAddress, until: Int64) {
        let left = until == .max ? "an unreadable cooldown record" : "\(max(0, until - now)) s of cooldown left"
        info("no free address but \(address), released recently (\(left)): reused it")
    }

    /// Registers the undo of an assignment this ADD made: unassign it, or queue its release when EC2 refuses now
    /// (the ledger entry goes with the rollback, so nothing else would remember it). The queued entry carries no MAC:
    /// the drain asks EC2, since IMDS may not yet show an assignment this recent.
    public func pushUnassign(_ a: [IPAddress], _ r: SelectedENI, _ ledger: RegistrationStore, _ undo: UndoStack) {
        undo.push("unassign \(a.map(\.description).joined(separator: ", ")) from \(r.described.id)") {
            do {
                try r.gateway.unassign(a, from: r.described.id)
            } catch {
                try ledger.enqueue(.init(eni: r.described.id, addresses: a), unique: self.random())
            }
        }
    }
}

/// The deliberate bugs `ENI_MULTUS_MUTANT` can switch on in a debug build, each caught by a campaign net.
public enum Mutants {
    /// DEL's EC2 half neither releases nor queues: the deferred (`cooldownSeconds` > 0) path forgets the ledger
    /// entry without queueing the release, and so does the path where EC2 cannot be reached (all IPAM modes with
    /// an EC2 ledger). The addresses stay on the ENI with no record.
    public static let delSkipsQueue = "del.skip-queue"
    /// Prefix mode: an empty prefix is dropped from the held list but never returned to EC2 (no unassign, no log).
    public static let prefixSkipsReturn = "del.prefix.skip-return"
    public static let all = [delSkipsQueue, prefixSkipsReturn]
}
