import Glibc
import NetTypes
import Testing

@testable import Netlink

@Suite("UnitNetlinkParsers: kernel replies to values")
struct UnitNetlinkParserTests {
    @Test("ipvlan link with alias, MAC, permanent MAC and parent")
    func parseIPVlanLink() throws {
        let bytes = message(
            type: K.RTM_NEWLINK, flags: 2, seq: 1, header: ifinfo(type: 1, index: 7, flags: 0x1043),
            attr(K.IFLA_IFNAME, cstr("eth1")),
            attr(K.IFLA_MTU, le32(UInt32(9001))),
            attr(K.IFLA_ADDRESS, [2, 0x42, 0xac, 0x11, 0, 2]),
            attr(K.IFLA_PERM_ADDRESS, [2, 0x42, 0xac, 0x11, 0, 9]),
            attr(K.IFLA_LINK, le32(Int32(3))),
            attr(K.IFLA_IFALIAS, cstr("eni-123")),
            attr(99, [1, 2, 3]),  // unknown attribute: skipped
            nested(
                K.IFLA_LINKINFO, attr(K.IFLA_INFO_KIND, cstr("ipvlan")),
                nested(K.IFLA_INFO_DATA, attr(K.IFLA_IPVLAN_MODE, le16(2)), attr(K.IFLA_IPVLAN_FLAGS, le16(1)))))
        let link = try #require(NetlinkMessage.parseLink(bytes))
        #expect(
            link
                == Link(
                    index: 7, name: "eth1", flags: 0x1043, mtu: 9001, hardwareAddress: mac("02:42:ac:11:00:02"),
                    kind: "ipvlan", ipvlanMode: .l3s, ipvlanFlag: .private_, parentIndex: 3, alias: "eni-123",
                    permanentAddress: mac("02:42:ac:11:00:09"), type: 1))
        #expect(link.isUp)
    }

    @Test("plain link: empty alias is nil, odd-sized address is nil, no kind")
    func parsePlainLink() throws {
        let bytes = message(
            type: K.RTM_NEWLINK, flags: 2, seq: 1, header: ifinfo(type: 772, index: 1, flags: 0x8),
            attr(K.IFLA_IFNAME, cstr("lo")), attr(K.IFLA_MTU, le32(UInt32(65536))),
            attr(K.IFLA_ADDRESS, [0, 0, 0, 0]), attr(K.IFLA_IFALIAS, []))
        let link = try #require(NetlinkMessage.parseLink(bytes))
        #expect(link.name == "lo" && link.index == 1 && link.mtu == 65536 && link.type == 772)
        #expect(link.hardwareAddress == nil && link.alias == nil && link.kind == nil && link.parentIndex == nil)
        #expect(!link.isUp)
    }

    @Test("other message types and truncated messages give nil")
    func parseLinkRejects() {
        let addr = message(type: K.RTM_NEWADDR, flags: 0, seq: 1, header: ifaddr(family: 2, prefixlen: 8, index: 1))
        #expect(NetlinkMessage.parseLink(addr) == nil)
        #expect(NetlinkMessage.parseLink([1, 2, 3]) == nil)
        // A header claiming more bytes than present: attributes cut off, nothing read out of bounds.
        var cut = message(type: K.RTM_NEWLINK, flags: 0, seq: 1, header: ifinfo(index: 2), attr(K.IFLA_IFNAME, cstr("abcdef")))
        cut.removeLast(6)
        #expect(NetlinkMessage.parseLink(cut)?.name == "")
    }

    @Test("our own ipvlan request parses back as the link it asks for")
    func ipvlanRoundTrip() throws {
        let request = NetlinkMessage.newIPVlan(
            name: "pod0", parentIndex: 9, mode: .l2, flag: .vepa, mtu: 1400, namespaceFD: nil, seq: 1)
        let link = try #require(NetlinkMessage.parseLink(request))
        #expect(link.name == "pod0" && link.parentIndex == 9 && link.mtu == 1400)
        #expect(link.kind == "ipvlan" && link.ipvlanMode == .l2 && link.ipvlanFlag == .vepa)
    }

    @Test("IPv4 address: IFA_LOCAL wins over IFA_ADDRESS (point-to-point peer)")
    func parseV4Address() throws {
        let bytes = message(
            type: K.RTM_NEWADDR, flags: 2, seq: 1, header: ifaddr(family: 2, prefixlen: 32, flags: 0x80, index: 5),
            attr(K.IFA_ADDRESS, [10, 9, 9, 9]), attr(K.IFA_LOCAL, [10, 0, 0, 1]))
        let a = try #require(NetlinkMessage.parseAddress(bytes))
        #expect(a == InterfaceAddress(index: 5, prefix: pfx("10.0.0.1/32"), scope: 0, flags: 0x80))
    }

    @Test("IPv6 address: IFA_ADDRESS only, IFA_FLAGS wins over ifa_flags")
    func parseV6Address() throws {
        let bytes = message(
            type: K.RTM_NEWADDR, flags: 2, seq: 1, header: ifaddr(family: 10, prefixlen: 64, flags: 0x40, scope: 253, index: 2),
            attr(K.IFA_ADDRESS, ip("fe80::1").bytes), attr(K.IFA_FLAGS, le32(UInt32(0x240))))
        let a = try #require(NetlinkMessage.parseAddress(bytes))
        #expect(a == InterfaceAddress(index: 2, prefix: pfx("fe80::1/64"), scope: 253, flags: 0x240))
        #expect(a.isTentative)
        // Family and address length disagree: rejected.
        let bad = message(
            type: K.RTM_NEWADDR, flags: 2, seq: 1, header: ifaddr(family: 10, prefixlen: 64, index: 2),
            attr(K.IFA_ADDRESS, [10, 0, 0, 1]))
        #expect(NetlinkMessage.parseAddress(bad) == nil)
    }

    @Test("address request parses back")
    func addressRoundTrip() throws {
        let a = try #require(NetlinkMessage.parseAddress(NetlinkMessage.newAddress(pfx("10.1.2.3/20"), index: 4, seq: 1)))
        #expect(a.prefix == pfx("10.1.2.3/20") && a.index == 4)
    }

    @Test("IPv4 main-table default route: table and scope nil")
    func parseDefaultRoute() throws {
        let bytes = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 2, dstLen: 0, table: 254, proto: 3, scope: 0, type: 1),
            attr(K.RTA_TABLE, le32(UInt32(254))), attr(K.RTA_GATEWAY, [10, 0, 0, 1]), attr(K.RTA_OIF, le32(Int32(2))))
        let e = try #require(NetlinkMessage.parseRoute(bytes))
        #expect(e.route == Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.0.0.1"), outputIndex: 2))
        #expect(e.table == 254 && e.type == 1 && e.proto == 3 && e.flags == 0)
    }

    @Test("connected route (scope link, no gateway) reports scope nil; host scope is kept")
    func parseScopes() throws {
        let connected = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 2, dstLen: 24, table: 254, proto: 2, scope: 253, type: 1),
            attr(K.RTA_TABLE, le32(UInt32(254))), attr(K.RTA_DST, [10, 1, 0, 0]),
            attr(K.RTA_PREFSRC, [10, 1, 0, 2]), attr(K.RTA_OIF, le32(Int32(3))))
        let c = try #require(NetlinkMessage.parseRoute(connected))
        #expect(c.route == Route(destination: pfx("10.1.0.0/24"), outputIndex: 3, source: ip("10.1.0.2")))
        let host = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 2, dstLen: 32, table: 254, proto: 3, scope: 254, type: 1),
            attr(K.RTA_DST, [10, 1, 0, 9]), attr(K.RTA_OIF, le32(Int32(3))))
        #expect(try #require(NetlinkMessage.parseRoute(host)).route.scope == 254)
        let universeNoGateway = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 2, dstLen: 32, table: 254, proto: 3, scope: 0, type: 1),
            attr(K.RTA_DST, [10, 1, 0, 9]), attr(K.RTA_OIF, le32(Int32(3))))
        #expect(try #require(NetlinkMessage.parseRoute(universeNoGateway)).route.scope == 0)
    }

    @Test("table over 255, metrics, IPv6")
    func parseTableMetricsV6() throws {
        let bytes = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 10, dstLen: 64, table: 252, proto: 3, scope: 0, type: 1, flags: 0x200),
            attr(K.RTA_TABLE, le32(UInt32(1000))), attr(K.RTA_DST, ip("2001:db8::").bytes),
            attr(K.RTA_PRIORITY, le32(UInt32(1024))), attr(K.RTA_OIF, le32(Int32(4))),
            nested(K.RTA_METRICS, attr(K.RTAX_MTU, le32(UInt32(1280))), attr(K.RTAX_ADVMSS, le32(UInt32(1220)))))
        let e = try #require(NetlinkMessage.parseRoute(bytes))
        #expect(
            e.route
                == Route(destination: pfx("2001:db8::/64"), outputIndex: 4, table: 1000, priority: 1024, mtu: 1280, advmss: 1220))
        #expect(e.table == 1000 && e.flags == 0x200)
    }

    @Test("non-IP families give nil")
    func parseRouteOtherFamily() {
        let ipmr = message(
            type: K.RTM_NEWROUTE, flags: 2, seq: 1,
            header: rtmsgBytes(family: 128, dstLen: 32, table: 254, proto: 0, scope: 0, type: 5))
        #expect(NetlinkMessage.parseRoute(ipmr) == nil)
    }

    @Test(
        "route requests parse back as the same Route",
        arguments: [
            Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.0.0.1"), outputIndex: 3),
            Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.0.0.1"), outputIndex: 3, table: 101, priority: 5),
            Route(destination: pfx("10.9.0.0/16"), outputIndex: 3, table: 70000, mtu: 1400, source: ip("10.9.0.2")),
            Route(destination: pfx("10.9.0.7/32"), outputIndex: 3, scope: 254),
            Route(destination: pfx("::/0"), gateway: ip("fe80::1"), outputIndex: 3, priority: 1024, advmss: 1400),
            Route(destination: pfx("2001:db8::/32"), outputIndex: 3),
        ])
    func routeRoundTrip(route: Route) throws {
        let e = try #require(NetlinkMessage.parseRoute(NetlinkMessage.newRoute(route, seq: 1)))
        #expect(e.route == route)
    }

    @Test("NLMSG_ERROR 0 is an ack")
    func parseAck() throws {
        let ack = message(type: K.NLMSG_ERROR, flags: 0x100, seq: 1, header: le32(Int32(0)) + [UInt8](repeating: 0, count: 16))
        let r = try #require(NetlinkMessage.parseError(ack))
        #expect(r.code == 0 && r.extAck == nil)
    }

    @Test("capped NLMSG_ERROR with extended ack message and offset")
    func parseCappedExtAck() throws {
        let inner = message(type: K.RTM_NEWLINK, flags: K.CREATE, seq: 5, header: [])  // echoed header only
        let bytes = message(
            type: K.NLMSG_ERROR, flags: 0x300, seq: 5, header: le32(-ENODEV) + inner,
            attr(K.NLMSGERR_ATTR_MSG, cstr("Unknown device type")), attr(K.NLMSGERR_ATTR_OFFS, le32(UInt32(32))))
        let r = try #require(NetlinkMessage.parseError(bytes))
        #expect(r.code == ENODEV && r.extAck == "Unknown device type")
    }

    @Test("uncapped NLMSG_ERROR: the TLVs follow the whole echoed request")
    func parseUncappedExtAck() throws {
        let request = NetlinkMessage.newIPVlan(
            name: "x", parentIndex: 1, mode: .l2, flag: .bridge, mtu: nil, namespaceFD: nil, seq: 5)
        let bytes = message(
            type: K.NLMSG_ERROR, flags: 0x200, seq: 5, header: le32(-EINVAL) + request,
            attr(K.NLMSGERR_ATTR_MSG, cstr("bad mode")))
        let r = try #require(NetlinkMessage.parseError(bytes))
        #expect(r.code == EINVAL && r.extAck == "bad mode")
    }

    @Test("NLMSG_ERROR without NLM_F_ACK_TLVS has no ext ack; positive error codes are accepted")
    func parseErrorNoTLV() throws {
        let bytes = message(type: K.NLMSG_ERROR, flags: 0x100, seq: 1, header: le32(Int32(EEXIST)) + [UInt8](repeating: 0, count: 16))
        let r = try #require(NetlinkMessage.parseError(bytes))
        #expect(r.code == EEXIST && r.extAck == nil)
        #expect(NetlinkMessage.parseError([0, 1, 2]) == nil)
        #expect(NetlinkMessage.parseError(message(type: K.RTM_NEWLINK, flags: 0, seq: 1, header: ifinfo())) == nil)
    }

    @Test("NLMSG_DONE carrying a dump error and ext ack")
    func parseDoneError() throws {
        let bytes = message(
            type: K.NLMSG_DONE, flags: 0x202, seq: 1, header: le32(-EOPNOTSUPP),
            attr(K.NLMSGERR_ATTR_MSG, cstr("dump not supported")))
        let r = try #require(NetlinkMessage.parseError(bytes))
        #expect(r.code == EOPNOTSUPP && r.extAck == "dump not supported")
        let ok = message(type: K.NLMSG_DONE, flags: 2, seq: 1, header: le32(Int32(0)))
        #expect(try #require(NetlinkMessage.parseError(ok)).code == 0)
    }

    @Test("attribute walk stops at a malformed length")
    func attributesMalformed() {
        // Second attribute claims 200 bytes: only the first is read.
        let bytes = attr(1, [1, 0, 0, 0]) + [200, 0, 2, 0, 9, 9, 9, 9]
        let a = Attributes(bytes: bytes)
        #expect(a.u32(Int32(1)) == 1 && a[Int32(2)] == nil)
        #expect(Attributes(bytes: [1, 2]).values.isEmpty)
    }
}
