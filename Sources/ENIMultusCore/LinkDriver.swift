import CNI
import Netlink
import NetTypes
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
        do { _ = try findMaster(inv.link, host) } catch {
            throw CNIError(.notAvailable, "ipvlan master unavailable: \(error)")
        }
    }
}

extension HostDeviceDriver: LinkDriver {
    static func add(_ inv: Invocation, ipam: AddressManager) throws -> CNIResult { try Self(inv: inv, ipam: ipam).add() }
    /// The device is in some pod's netns while in use: its absence from the node says nothing.
    static func status(_ inv: Invocation, host: HostNamespace) throws {}
}

/// Which node link an ADD takes, decided once and stated explicitly: what the config names (`master`/`masterMAC`
/// for ipvlan; `device`, `hwaddr`, `kernelpath`, `pciBusID`, `runtimeConfig.deviceID` for host-device), or on an
/// EC2 network the link that carries the selected ENI's MAC, whatever the config's own fields say.
struct LinkSelector: Equatable {
    /// `master` / `device`.
    var name: String?
    /// `masterMAC` / `hwaddr`, or the ENI's MAC.
    var mac: MACAddress?
    var kernelpath: String?
    /// `runtimeConfig.deviceID`, else `pciBusID`, and which of the two said it.
    var pciID: String?
    var pciField = "pciBusID"
    /// The config field a MAC came from, for messages.
    var macField: String

    init(conf: NetConf) {
        switch conf.link {
        case .ipvlan:
            name = conf.master
            mac = conf.masterMAC
            macField = "masterMAC"
        case .hostDevice:
            name = conf.device
            mac = conf.hwaddr
            macField = "hwaddr"
            kernelpath = conf.kernelpath
            pciID = conf.runtimeDeviceID ?? conf.pciBusID
            if conf.runtimeDeviceID != nil { pciField = "runtimeConfig.deviceID" }
        }
    }

    /// The link that carries an ENI: by its MAC only.
    init(eniMAC: MACAddress) {
        mac = eniMAC
        macField = "the ENI's MAC"
    }
}
