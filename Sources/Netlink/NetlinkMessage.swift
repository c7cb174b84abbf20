import CLibmnl
import Glibc
import NetTypes

/// Pure rtnetlink message builders and parsers: bytes in, bytes out, no socket.
///
/// Builders return one complete request (`nlmsghdr` + family header + attributes) with `nlmsg_pid` 0
/// and the given `seq`. Every request carries `NLM_F_REQUEST | NLM_F_ACK`; creations add
/// `NLM_F_CREATE | NLM_F_EXCL`; dumps add `NLM_F_DUMP`. Integers are in host byte order, addresses in
/// network byte order, as the kernel expects.
public enum NetlinkMessage {
    static let requestFlags = UInt16(NLM_F_REQUEST | NLM_F_ACK)
    static let createFlags = UInt16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    static let dumpFlags = UInt16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP)

    /// `IFLA_EXT_MASK` sent with link queries: skip the statistics blocks we never read.
    static let linkExtMask = UInt32(RTEXT_FILTER_SKIP_STATS)

    // MARK: Links

    /// `RTM_GETLINK` for one index.
    public static func getLink(index: Int32, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_GETLINK), flags: requestFlags, seq: seq)
        var ifi = ifinfomsg()
        ifi.ifi_index = index
        w.putHeader(ifi)
        w.put(IFLA_EXT_MASK, u32: linkExtMask)
        return w.finish()
    }

    /// `RTM_GETLINK` by `IFLA_IFNAME`.
    public static func getLink(name: String, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_GETLINK), flags: requestFlags, seq: seq, extra: name.utf8.count)
        w.putHeader(ifinfomsg())
        w.put(IFLA_IFNAME, cString: name)
        w.put(IFLA_EXT_MASK, u32: linkExtMask)
        return w.finish()
    }

    /// `RTM_GETLINK` dump of every link.
    public static func dumpLinks(seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_GETLINK), flags: dumpFlags, seq: seq)
        w.putHeader(ifinfomsg())
        w.put(IFLA_EXT_MASK, u32: linkExtMask)
        return w.finish()
    }

    /// `RTM_NEWLINK` (create, exclusive) of an ipvlan on `parentIndex`:
    /// `IFLA_IFNAME`, `IFLA_LINK`, [`IFLA_MTU`], [`IFLA_NET_NS_FD`],
    /// `IFLA_LINKINFO { IFLA_INFO_KIND "ipvlan", IFLA_INFO_DATA { IFLA_IPVLAN_MODE, IFLA_IPVLAN_FLAGS } }`.
    public static func newIPVlan(
        name: String, parentIndex: Int32, mode: IPVlanMode, flag: IPVlanFlag, mtu: UInt32?, namespaceFD: Int32?,
        seq: UInt32
    ) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_NEWLINK), flags: createFlags, seq: seq, extra: name.utf8.count)
        w.putHeader(ifinfomsg())
        w.put(IFLA_IFNAME, cString: name)
        w.put(IFLA_LINK, u32: UInt32(bitPattern: parentIndex))
        if let mtu { w.put(IFLA_MTU, u32: mtu) }
        if let namespaceFD { w.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: namespaceFD)) }
        w.nest(IFLA_LINKINFO) {
            w.put(IFLA_INFO_KIND, string: "ipvlan")
            w.nest(IFLA_INFO_DATA) {
                w.put(IFLA_IPVLAN_MODE, u16: mode.rawValue)
                w.put(IFLA_IPVLAN_FLAGS, u16: flag.rawValue)
            }
        }
        return w.finish()
    }

    /// `RTM_NEWLINK` (create, exclusive) of a veth pair:
    /// `IFLA_IFNAME`, `IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER { ifinfomsg,
    /// IFLA_IFNAME, [IFLA_NET_NS_FD] } } }`.
    public static func newVeth(name: String, peerName: String, peerNamespaceFD: Int32?, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(
            type: UInt16(RTM_NEWLINK), flags: createFlags, seq: seq, extra: name.utf8.count + peerName.utf8.count)
        w.putHeader(ifinfomsg())
        w.put(IFLA_IFNAME, cString: name)
        w.nest(IFLA_LINKINFO) {
            w.put(IFLA_INFO_KIND, string: "veth")
            w.nest(IFLA_INFO_DATA) {
                w.nest(VETH_INFO_PEER, header: ifinfomsg()) {
                    w.put(IFLA_IFNAME, cString: peerName)
                    if let peerNamespaceFD { w.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: peerNamespaceFD)) }
                }
            }
        }
        return w.finish()
    }

    /// `RTM_NEWLINK` (create, exclusive) of a link of `kind` with no kind-specific data
    /// (bridge, dummy, ...).
    public static func newLink(name: String, kind: String, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(
            type: UInt16(RTM_NEWLINK), flags: createFlags, seq: seq, extra: name.utf8.count + kind.utf8.count)
        w.putHeader(ifinfomsg())
        w.put(IFLA_IFNAME, cString: name)
        w.nest(IFLA_LINKINFO) {
            w.put(IFLA_INFO_KIND, string: kind)
        }
        return w.finish()
    }

    /// `RTM_DELLINK` of one index.
    public static func deleteLink(index: Int32, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_DELLINK), flags: requestFlags, seq: seq)
        var ifi = ifinfomsg()
        ifi.ifi_index = index
        w.putHeader(ifi)
        return w.finish()
    }

    /// `RTM_NEWLINK` (no create) on `index`: `ifi_flags`/`ifi_change` carry `IFF_UP` when `change.up` is
    /// set; then `IFLA_IFNAME`, `IFLA_MTU`, `IFLA_ADDRESS`, `IFLA_IFALIAS`, `IFLA_NET_NS_FD` as present.
    public static func setLink(index: Int32, _ change: LinkChange, seq: UInt32) -> [UInt8] {
        let extra = (change.name?.utf8.count ?? 0) + (change.alias?.utf8.count ?? 0)
        let w = MessageWriter(type: UInt16(RTM_NEWLINK), flags: requestFlags, seq: seq, extra: extra)
        var ifi = ifinfomsg()
        ifi.ifi_index = index
        if let up = change.up {
            ifi.ifi_change = UInt32(IFF_UP)
            ifi.ifi_flags = up ? UInt32(IFF_UP) : 0
        }
        w.putHeader(ifi)
        if let name = change.name { w.put(IFLA_IFNAME, cString: name) }
        if let mtu = change.mtu { w.put(IFLA_MTU, u32: mtu) }
        if let mac = change.hardwareAddress { w.put(IFLA_ADDRESS, bytes: mac.bytes) }
        if let alias = change.alias { w.put(IFLA_IFALIAS, string: alias) }
        if let fd = change.namespaceFD { w.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: fd)) }
        return w.finish()
    }

    /// Parses one `RTM_NEWLINK` message; nil for any other message or a truncated one.
    public static func parseLink(_ message: [UInt8]) -> Link? {
        guard message.count >= 32, message.hostU16(at: 4) == UInt16(RTM_NEWLINK) else { return nil }
        let a = Attributes(message: message, headerSize: MemoryLayout<ifinfomsg>.size)
        var link = Link(
            index: Int32(bitPattern: message.hostU32(at: 20)),
            name: a.string(IFLA_IFNAME) ?? "",
            flags: message.hostU32(at: 24),
            mtu: a.u32(IFLA_MTU) ?? 0,
            type: message.hostU16(at: 18))
        link.hardwareAddress = a[IFLA_ADDRESS].flatMap { MACAddress(bytes: $0) }
        link.permanentAddress = a[IFLA_PERM_ADDRESS].flatMap { MACAddress(bytes: $0) }
        link.parentIndex = a.u32(IFLA_LINK).map { Int32(bitPattern: $0) }
        if let alias = a.string(IFLA_IFALIAS), !alias.isEmpty { link.alias = alias }
        if let info = a.nested(IFLA_LINKINFO) {
            link.kind = info.string(IFLA_INFO_KIND)
            if link.kind == "ipvlan", let data = info.nested(IFLA_INFO_DATA) {
                link.ipvlanMode = data.u16(IFLA_IPVLAN_MODE).flatMap { IPVlanMode(rawValue: $0) }
                link.ipvlanFlag = data.u16(IFLA_IPVLAN_FLAGS).flatMap { IPVlanFlag(rawValue: $0) }
            }
        }
        return link
    }

    // MARK: Addresses

    static func family(of address: IPAddress) -> UInt8 {
        UInt8(address.isV4 ? AF_INET : AF_INET6)
    }

    /// `RTM_NEWADDR` (create, exclusive): `IFA_LOCAL`, `IFA_ADDRESS`, `IFA_BROADCAST` for IPv4 prefixes
    /// shorter than /31, and with `noDAD` `ifa_flags` and `IFA_FLAGS` = `IFA_F_NODAD`.
    public static func newAddress(_ prefix: IPPrefix, index: Int32, noDAD: Bool = false, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_NEWADDR), flags: createFlags, seq: seq)
        var ifa = ifaddrmsg()
        ifa.ifa_family = family(of: prefix.address)
        ifa.ifa_prefixlen = UInt8(prefix.length)
        ifa.ifa_index = UInt32(bitPattern: index)
        if noDAD { ifa.ifa_flags = UInt8(IFA_F_NODAD) }
        w.putHeader(ifa)
        w.put(IFA_LOCAL, address: prefix.address)
        w.put(IFA_ADDRESS, address: prefix.address)
        if prefix.address.isV4 && prefix.length < 31 { w.put(IFA_BROADCAST, address: prefix.lastAddress) }
        if noDAD { w.put(IFA_FLAGS, u32: UInt32(IFA_F_NODAD)) }
        return w.finish()
    }

    /// `RTM_DELADDR`: `IFA_LOCAL`, `IFA_ADDRESS`.
    public static func deleteAddress(_ prefix: IPPrefix, index: Int32, seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_DELADDR), flags: requestFlags, seq: seq)
        var ifa = ifaddrmsg()
        ifa.ifa_family = family(of: prefix.address)
        ifa.ifa_prefixlen = UInt8(prefix.length)
        ifa.ifa_index = UInt32(bitPattern: index)
        w.putHeader(ifa)
        w.put(IFA_LOCAL, address: prefix.address)
        w.put(IFA_ADDRESS, address: prefix.address)
        return w.finish()
    }

    /// `RTM_GETADDR` dump, both families.
    public static func dumpAddresses(seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_GETADDR), flags: dumpFlags, seq: seq)
        w.putHeader(ifaddrmsg())
        return w.finish()
    }

    /// Parses one `RTM_NEWADDR` message (IPv4 or IPv6).
    public static func parseAddress(_ message: [UInt8]) -> InterfaceAddress? {
        guard message.count >= 24, message.hostU16(at: 4) == UInt16(RTM_NEWADDR) else { return nil }
        let family = Int32(message[16])
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let a = Attributes(message: message, headerSize: MemoryLayout<ifaddrmsg>.size)
        guard let address = a.address(IFA_LOCAL) ?? a.address(IFA_ADDRESS),
              address.isV4 == (family == AF_INET),
              let prefix = IPPrefix(address: address, length: Int(message[17])) else { return nil }
        return InterfaceAddress(
            index: Int32(bitPattern: message.hostU32(at: 20)), prefix: prefix, scope: message[19],
            flags: a.u32(IFA_FLAGS) ?? UInt32(message[18]))
    }

    // MARK: Routes

    /// `RTM_NEWROUTE` (create, exclusive), protocol boot, type unicast, scope as `Route.scope` documents:
    /// `rtmsg`, [`RTA_TABLE` when > 255], [`RTA_DST` unless /0], [`RTA_PREFSRC`], [`RTA_GATEWAY`],
    /// [`RTA_OIF`], [`RTA_PRIORITY`], [`RTA_METRICS { RTAX_MTU, RTAX_ADVMSS }`].
    public static func newRoute(_ route: Route, seq: UInt32) -> [UInt8] {
        routeMessage(route, type: UInt16(RTM_NEWROUTE), flags: createFlags, seq: seq)
    }

    /// `RTM_DELROUTE`: protocol and type unspecified and, unless `route.scope` is set, scope
    /// `RT_SCOPE_NOWHERE`, so the kernel matches any; metrics are not sent.
    public static func deleteRoute(_ route: Route, seq: UInt32) -> [UInt8] {
        routeMessage(route, type: UInt16(RTM_DELROUTE), flags: requestFlags, seq: seq)
    }

    static func routeMessage(_ route: Route, type: UInt16, flags: UInt16, seq: UInt32) -> [UInt8] {
        let adding = type == UInt16(RTM_NEWROUTE)
        let w = MessageWriter(type: type, flags: flags, seq: seq)
        var rtm = rtmsg()
        rtm.rtm_family = family(of: route.destination.address)
        rtm.rtm_dst_len = UInt8(route.destination.length)
        let table = route.tableNumber
        rtm.rtm_table = table > 255 ? UInt8(RT_TABLE_UNSPEC.rawValue) : UInt8(table)
        if adding {
            rtm.rtm_protocol = UInt8(RTPROT_BOOT)
            rtm.rtm_type = UInt8(RTN_UNICAST)
            rtm.rtm_scope = route.scope ?? route.defaultScope
        } else {
            rtm.rtm_scope = route.scope ?? UInt8(RT_SCOPE_NOWHERE.rawValue)
        }
        w.putHeader(rtm)
        if table > 255 { w.put(RTA_TABLE.rawValue, u32: table) }
        if route.destination.length > 0 { w.put(RTA_DST.rawValue, address: route.destination.address) }
        if let source = route.source { w.put(RTA_PREFSRC.rawValue, address: source) }
        if let gateway = route.gateway { w.put(RTA_GATEWAY.rawValue, address: gateway) }
        if let oif = route.outputIndex { w.put(RTA_OIF.rawValue, u32: UInt32(bitPattern: oif)) }
        if let priority = route.priority { w.put(RTA_PRIORITY.rawValue, u32: priority) }
        if adding && (route.mtu != nil || route.advmss != nil) {
            w.nest(RTA_METRICS.rawValue) {
                if let mtu = route.mtu { w.put(RTAX_MTU, u32: mtu) }
                if let advmss = route.advmss { w.put(RTAX_ADVMSS, u32: advmss) }
            }
        }
        return w.finish()
    }

    /// `RTM_GETROUTE` dump, every family and table.
    public static func dumpRoutes(seq: UInt32) -> [UInt8] {
        let w = MessageWriter(type: UInt16(RTM_GETROUTE), flags: dumpFlags, seq: seq)
        w.putHeader(rtmsg())
        return w.finish()
    }

    /// One `RTM_NEWROUTE` message with the header fields `routes()` filters on.
    public struct RouteEntry: Sendable, Equatable {
        public var route: Route
        /// `RTA_TABLE`, else `rtm_table`.
        public var table: UInt32
        /// `rtm_type`: `RTN_UNICAST` (1), `RTN_LOCAL` (2), `RTN_BROADCAST` (3), ...
        public var type: UInt8
        /// `rtm_protocol`: `RTPROT_KERNEL` (2), `RTPROT_BOOT` (3), ...
        public var proto: UInt8
        /// `rtm_flags`; `RTM_F_CLONED` marks cache entries.
        public var flags: UInt32
    }

    /// Parses one `RTM_NEWROUTE` message (IPv4 or IPv6; other families give nil).
    public static func parseRoute(_ message: [UInt8]) -> RouteEntry? {
        guard message.count >= 28, message.hostU16(at: 4) == UInt16(RTM_NEWROUTE) else { return nil }
        let family = Int32(message[16])
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let a = Attributes(message: message, headerSize: MemoryLayout<rtmsg>.size)
        let zero: IPAddress = family == AF_INET ? .v4(0) : .v6(high: 0, low: 0)
        let dst = a.address(RTA_DST.rawValue) ?? zero
        guard dst.isV4 == (family == AF_INET),
              let destination = IPPrefix(address: dst, length: Int(message[17])) else { return nil }
        var route = Route(destination: destination)
        route.gateway = a.address(RTA_GATEWAY.rawValue)
        route.outputIndex = a.u32(RTA_OIF.rawValue).map { Int32(bitPattern: $0) }
        route.priority = a.u32(RTA_PRIORITY.rawValue)
        route.source = a.address(RTA_PREFSRC.rawValue)
        if let metrics = a.nested(RTA_METRICS.rawValue) {
            route.mtu = metrics.u32(RTAX_MTU)
            route.advmss = metrics.u32(RTAX_ADVMSS)
        }
        let table = a.u32(RTA_TABLE.rawValue) ?? UInt32(message[20])
        route.table = table == UInt32(RT_TABLE_MAIN.rawValue) ? nil : table
        let scope = message[22]
        route.scope = scope == route.defaultScope ? nil : scope
        return RouteEntry(
            route: route, table: table, type: message[23], proto: message[21], flags: message.hostU32(at: 24))
    }

    // MARK: Errors

    /// The error code (positive; 0 for an ack) and extended-ack message of an `NLMSG_ERROR` or
    /// `NLMSG_DONE`. The TLVs follow the echoed request (`nlmsgerr.msg` plus its payload) unless
    /// `NLM_F_CAPPED` says only the header was echoed; in `NLMSG_DONE` they follow the error int.
    public static func parseError(_ message: [UInt8]) -> (code: Int32, extAck: String?)? {
        guard message.count >= 20 else { return nil }
        let type = Int32(message.hostU16(at: 4))
        guard type == NLMSG_ERROR || type == NLMSG_DONE else { return nil }
        let flags = Int32(message.hostU16(at: 6))
        let length = min(message.count, Int(message.hostU32(at: 0)))
        let raw = Int32(bitPattern: message.hostU32(at: 16))
        let code = raw < 0 ? -raw : raw
        guard flags & NLM_F_ACK_TLVS != 0 else { return (code, nil) }
        var offset: Int
        if type == NLMSG_DONE {
            offset = 20
        } else if flags & NLM_F_CAPPED != 0 {
            offset = 16 + MemoryLayout<nlmsgerr>.size
        } else {
            guard length >= 36 else { return (code, nil) }
            offset = 20 + Int(cmnl_align(Int(message.hostU32(at: 20))))
        }
        guard offset < length else { return (code, nil) }
        let tlvs = Attributes(bytes: Array(message[offset..<length]))
        let text = tlvs.string(NLMSGERR_ATTR_MSG.rawValue)
        return (code, text?.isEmpty == true ? nil : text)
    }
}
