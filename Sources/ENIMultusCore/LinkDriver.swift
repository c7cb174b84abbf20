import CNI
import Netlink
import NodeState

/// What one kind of link does in each verb of the plugin role (in the IPAM role the calling plugin owns the link).
/// `Invocation` runs the verbs and asks `conf.link.driver`; nothing else switches on the link kind.
protocol LinkDriver {
    /// Creates (ipvlan) or moves in (host-device) the pod's interface and configures the IPAM result on it.
    static func add(_ inv: Invocation, ipam: AddressManager) throws -> CNIResult
    /// Removes or returns the interface; best effort and idempotent, also when the pod netns is gone.
    static func del(_ inv: Invocation) throws
    /// The interface is as `prev` says.
    static func check(_ inv: Invocation, prev: CNIResult) throws
    /// Cleans what attachments no longer in `valid` left behind; returns what failed.
    static func gc(_ inv: Invocation, valid: Set<AttachmentKey>) -> [any Error]
    /// Throws `CNIError(.notAvailable)` when this link cannot be created now.
    static func status(_ inv: Invocation, host: HostNamespace) throws
}

extension LinkKind {
    var driver: any LinkDriver.Type {
        switch self {
        case .ipvlan: IPVlanDriver.self
        case .hostDevice: HostDeviceDriver.self
        }
    }
}

extension IPVlanDriver: LinkDriver {
    static func add(_ inv: Invocation, ipam: AddressManager) throws -> CNIResult { try Self(inv: inv, ipam: ipam).add() }
    /// An ipvlan link dies with its pod netns: nothing outlives an attachment.
    static func gc(_ inv: Invocation, valid: Set<AttachmentKey>) -> [any Error] { [] }
    static func status(_ inv: Invocation, host: HostNamespace) throws {
        do { _ = try findMaster(inv.conf, host) } catch {
            throw CNIError(.notAvailable, "ipvlan master unavailable: \(error)")
        }
    }
}

extension HostDeviceDriver: LinkDriver {
    static func add(_ inv: Invocation, ipam: AddressManager) throws -> CNIResult { try Self(inv: inv, ipam: ipam).add() }
    /// The device is in some pod's netns while in use: its absence from the node says nothing.
    static func status(_ inv: Invocation, host: HostNamespace) throws {}
}
