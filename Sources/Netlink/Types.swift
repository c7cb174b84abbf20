import CLibmnl
import Glibc
import NetTypes

/// `IFLA_IPVLAN_MODE`: `IPVLAN_MODE_L2`, `IPVLAN_MODE_L3`, `IPVLAN_MODE_L3S`.
public enum IPVlanMode: UInt16, Sendable, CaseIterable {
    case l2 = 0, l3 = 1, l3s = 2
}

/// `IFLA_IPVLAN_FLAGS`: bridge (0), `IPVLAN_F_PRIVATE` (1), `IPVLAN_F_VEPA` (2).
public enum IPVlanFlag: UInt16, Sendable, CaseIterable {
    case bridge = 0, private_ = 1, vepa = 2
}

/// One interface as `RTM_NEWLINK` describes it.
public struct Link: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// `ifi_flags`: `IFF_UP`, `IFF_LOWER_UP`, `IFF_RUNNING`, ...
    public var flags: UInt32
    public var mtu: UInt32
    /// `IFLA_ADDRESS` when it is 6 bytes long.
    public var hardwareAddress: MACAddress?
    /// `IFLA_LINKINFO` / `IFLA_INFO_KIND`: "ipvlan", "veth", "macvlan", "bridge", ...; nil for physical devices.
    public var kind: String?
    /// `IFLA_INFO_DATA` / `IFLA_IPVLAN_MODE`, for ipvlan links.
    public var ipvlanMode: IPVlanMode?
    /// `IFLA_INFO_DATA` / `IFLA_IPVLAN_FLAGS`, for ipvlan links.
    public var ipvlanFlag: IPVlanFlag?
    /// `IFLA_LINK`: the parent (ipvlan, macvlan, vlan) or the veth peer. May name an index in another
    /// namespace (the kernel then also sends `IFLA_LINK_NETNSID`).
    public var parentIndex: Int32?
    /// `IFLA_IFALIAS`; nil when absent or empty.
    public var alias: String?
    /// `IFLA_PERM_ADDRESS` when the driver reports one (physical NICs, ENIs).
    public var permanentAddress: MACAddress?
    /// `ifi_type`: `ARPHRD_ETHER` (1), `ARPHRD_LOOPBACK` (772), ...
    public var type: UInt16

    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }

    public init(
        index: Int32, name: String, flags: UInt32 = 0, mtu: UInt32 = 1500, hardwareAddress: MACAddress? = nil,
        kind: String? = nil, ipvlanMode: IPVlanMode? = nil, ipvlanFlag: IPVlanFlag? = nil,
        parentIndex: Int32? = nil, alias: String? = nil, permanentAddress: MACAddress? = nil, type: UInt16 = 1
    ) {
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.hardwareAddress = hardwareAddress
        self.kind = kind
        self.ipvlanMode = ipvlanMode
        self.ipvlanFlag = ipvlanFlag
        self.parentIndex = parentIndex
        self.alias = alias
        self.permanentAddress = permanentAddress
        self.type = type
    }
}

/// Changes for `RouteSocket.setLink`; nil fields are left alone.
public struct LinkChange: Sendable, Equatable {
    /// `IFLA_IFNAME` (rename; the kernel refuses while the link is up).
    public var name: String?
    /// `ifi_flags`/`ifi_change` on `IFF_UP`.
    public var up: Bool?
    /// `IFLA_MTU`.
    public var mtu: UInt32?
    /// `IFLA_NET_NS_FD`: move the link into the namespace this descriptor refers to.
    public var namespaceFD: Int32?
    /// `IFLA_IFALIAS`; `""` clears the alias.
    public var alias: String?
    /// `IFLA_ADDRESS`.
    public var hardwareAddress: MACAddress?

    public init(
        name: String? = nil, up: Bool? = nil, mtu: UInt32? = nil, namespaceFD: Int32? = nil,
        alias: String? = nil, hardwareAddress: MACAddress? = nil
    ) {
        self.name = name
        self.up = up
        self.mtu = mtu
        self.namespaceFD = namespaceFD
        self.alias = alias
        self.hardwareAddress = hardwareAddress
    }

    public var isEmpty: Bool {
        name == nil && up == nil && mtu == nil && namespaceFD == nil && alias == nil && hardwareAddress == nil
    }
}

/// One address as `RTM_NEWADDR` describes it.
public struct InterfaceAddress: Sendable, Equatable {
    public var index: Int32
    /// `IFA_LOCAL` (or `IFA_ADDRESS` when there is no `IFA_LOCAL`, as for IPv6) with `ifa_prefixlen`.
    public var prefix: IPPrefix
    /// `ifa_scope`: `RT_SCOPE_UNIVERSE` (0), `RT_SCOPE_LINK` (253), `RT_SCOPE_HOST` (254).
    public var scope: UInt8
    /// `IFA_FLAGS` when present, else `ifa_flags`: `IFA_F_PERMANENT`, `IFA_F_NODAD`, `IFA_F_TENTATIVE`, ...
    public var flags: UInt32

    public init(index: Int32, prefix: IPPrefix, scope: UInt8 = 0, flags: UInt32 = 0) {
        self.index = index
        self.prefix = prefix
        self.scope = scope
        self.flags = flags
    }

    /// `IFA_F_TENTATIVE`: IPv6 duplicate address detection has not finished.
    public var isTentative: Bool { flags & UInt32(IFA_F_TENTATIVE) != 0 }
}

/// A unicast route.
///
/// Round trip: `routes()` reports `scope` as nil when it equals what `addRoute` would have chosen for
/// nil (IPv4: link when there is no gateway but an output interface, else universe; IPv6: always
/// universe), `table` as nil for main (254). The kernel gives IPv6 routes added without a metric
/// priority 1024, which `routes()` reports.
public struct Route: Sendable, Equatable {
    /// `RTA_DST`/`rtm_dst_len`; `0.0.0.0/0` or `::/0` for a default route.
    public var destination: IPPrefix
    /// `RTA_GATEWAY`; same family as `destination`.
    public var gateway: IPAddress?
    /// `RTA_OIF`.
    public var outputIndex: Int32?
    /// nil = main (`RT_TABLE_MAIN`, 254). Values above 255 travel in `RTA_TABLE`.
    public var table: UInt32?
    /// `RTA_PRIORITY` (the metric).
    public var priority: UInt32?
    /// `rtm_scope`; nil = universe, or link when there is no gateway and an output interface (IPv4).
    public var scope: UInt8?
    /// `RTA_METRICS` / `RTAX_MTU`.
    public var mtu: UInt32?
    /// `RTA_METRICS` / `RTAX_ADVMSS`.
    public var advmss: UInt32?
    /// `RTA_PREFSRC`.
    public var source: IPAddress?

    public init(
        destination: IPPrefix, gateway: IPAddress? = nil, outputIndex: Int32? = nil, table: UInt32? = nil,
        priority: UInt32? = nil, scope: UInt8? = nil, mtu: UInt32? = nil, advmss: UInt32? = nil,
        source: IPAddress? = nil
    ) {
        self.destination = destination
        self.gateway = gateway
        self.outputIndex = outputIndex
        self.table = table
        self.priority = priority
        self.scope = scope
        self.mtu = mtu
        self.advmss = advmss
        self.source = source
    }

    /// The scope `addRoute` uses when `scope` is nil.
    var defaultScope: UInt8 {
        if destination.address.isV4 && gateway == nil && outputIndex != nil { return UInt8(RT_SCOPE_LINK.rawValue) }
        return UInt8(RT_SCOPE_UNIVERSE.rawValue)
    }

    /// The table number on the wire (254 for nil).
    var tableNumber: UInt32 { table ?? UInt32(RT_TABLE_MAIN.rawValue) }
}
