import Glibc
import NetTypes
import Testing

@testable import Netlink

@Suite("UnitNetlinkBuilders: request bytes against the uapi layout")
struct UnitNetlinkBuilderTests {
    @Test("ipvlan creation matches hand-derived bytes (ip link add link <4> name ipvl0 type ipvlan mode l3)")
    func ipvlanHandDerived() {
        let expected: [UInt8] = [
            0x58, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // nlmsghdr
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // ifinfomsg
            0x0a, 0x00, 0x03, 0x00, 0x69, 0x70, 0x76, 0x6c, 0x30, 0x00, 0x00, 0x00,  // IFLA_IFNAME "ipvl0\0"
            0x08, 0x00, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00,  // IFLA_LINK 4
            0x24, 0x00, 0x12, 0x80,  // IFLA_LINKINFO (nested)
            0x0a, 0x00, 0x01, 0x00, 0x69, 0x70, 0x76, 0x6c, 0x61, 0x6e, 0x00, 0x00,  // IFLA_INFO_KIND "ipvlan"
            0x14, 0x00, 0x02, 0x80,  // IFLA_INFO_DATA (nested)
            0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,  // IFLA_IPVLAN_MODE l3
            0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,  // IFLA_IPVLAN_FLAGS bridge
        ]
        let built = NetlinkMessage.newIPVlan(
            name: "ipvl0", parentIndex: 4, mode: .l3, flag: .bridge, mtu: nil, namespaceFD: nil, seq: 1)
        #expect(hex(built) == hex(expected))
    }

    @Test("ipvlan creation with MTU and target namespace", arguments: IPVlanMode.allCases, IPVlanFlag.allCases)
    func ipvlanFull(mode: IPVlanMode, flag: IPVlanFlag) {
        let expected = message(
            type: K.RTM_NEWLINK, flags: K.CREATE, seq: 0xdead_beef, header: ifinfo(),
            attr(K.IFLA_IFNAME, cstr("eth1")),
            attr(K.IFLA_LINK, le32(Int32(12))),
            attr(K.IFLA_MTU, le32(UInt32(9001))),
            attr(K.IFLA_NET_NS_FD, le32(Int32(7))),
            nested(
                K.IFLA_LINKINFO, attr(K.IFLA_INFO_KIND, str("ipvlan")),
                nested(
                    K.IFLA_INFO_DATA, attr(K.IFLA_IPVLAN_MODE, le16(mode.rawValue)),
                    attr(K.IFLA_IPVLAN_FLAGS, le16(flag.rawValue)))))
        let built = NetlinkMessage.newIPVlan(
            name: "eth1", parentIndex: 12, mode: mode, flag: flag, mtu: 9001, namespaceFD: 7, seq: 0xdead_beef)
        #expect(hex(built) == hex(expected))
    }

    @Test("IPVlanMode / IPVlanFlag raw values are the kernel's")
    func ipvlanRawValues() {
        #expect(IPVlanMode.l2.rawValue == 0 && IPVlanMode.l3.rawValue == 1 && IPVlanMode.l3s.rawValue == 2)
        #expect(IPVlanFlag.bridge.rawValue == 0 && IPVlanFlag.private_.rawValue == 1 && IPVlanFlag.vepa.rawValue == 2)
    }

    @Test("veth pair with the peer in another namespace")
    func veth() {
        let expected = message(
            type: K.RTM_NEWLINK, flags: K.CREATE, seq: 3, header: ifinfo(),
            attr(K.IFLA_IFNAME, cstr("veth0")),
            nested(
                K.IFLA_LINKINFO, attr(K.IFLA_INFO_KIND, str("veth")),
                nested(
                    K.IFLA_INFO_DATA,
                    nested(K.VETH_INFO_PEER, ifinfo(), attr(K.IFLA_IFNAME, cstr("veth1")), attr(K.IFLA_NET_NS_FD, le32(Int32(9)))))))
        #expect(hex(NetlinkMessage.newVeth(name: "veth0", peerName: "veth1", peerNamespaceFD: 9, seq: 3)) == hex(expected))
    }

    @Test("generic link of a kind")
    func newLink() {
        let expected = message(
            type: K.RTM_NEWLINK, flags: K.CREATE, seq: 4, header: ifinfo(),
            attr(K.IFLA_IFNAME, cstr("br0")), nested(K.IFLA_LINKINFO, attr(K.IFLA_INFO_KIND, str("bridge"))))
        #expect(hex(NetlinkMessage.newLink(name: "br0", kind: "bridge", seq: 4)) == hex(expected))
    }

    @Test("link queries and dump skip statistics")
    func linkQueries() {
        let mask = attr(K.IFLA_EXT_MASK, le32(UInt32(8)))
        #expect(
            hex(NetlinkMessage.getLink(index: 5, seq: 10))
                == hex(message(type: K.RTM_GETLINK, flags: K.REQUEST_ACK, seq: 10, header: ifinfo(index: 5), mask)))
        #expect(
            hex(NetlinkMessage.getLink(name: "eth0", seq: 11))
                == hex(message(type: K.RTM_GETLINK, flags: K.REQUEST_ACK, seq: 11, header: ifinfo(),
                               attr(K.IFLA_IFNAME, cstr("eth0")), mask)))
        #expect(
            hex(NetlinkMessage.dumpLinks(seq: 12))
                == hex(message(type: K.RTM_GETLINK, flags: K.DUMP, seq: 12, header: ifinfo(), mask)))
    }

    @Test("delete link matches hand-derived bytes")
    func deleteLink() {
        let expected: [UInt8] = [
            0x20, 0x00, 0x00, 0x00, 0x11, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
        #expect(hex(NetlinkMessage.deleteLink(index: 42, seq: 2)) == hex(expected))
    }

    @Test("set link: up, rename, mtu, address, alias, namespace")
    func setLinkEverything() {
        let change = LinkChange(
            name: "eth1", up: true, mtu: 9001, namespaceFD: 5, alias: "eni-0abc", hardwareAddress: mac("02:00:00:00:00:01"))
        let expected = message(
            type: K.RTM_NEWLINK, flags: K.REQUEST_ACK, seq: 9, header: ifinfo(index: 3, flags: 1, change: 1),
            attr(K.IFLA_IFNAME, cstr("eth1")),
            attr(K.IFLA_MTU, le32(UInt32(9001))),
            attr(K.IFLA_ADDRESS, [2, 0, 0, 0, 0, 1]),
            attr(K.IFLA_IFALIAS, str("eni-0abc")),
            attr(K.IFLA_NET_NS_FD, le32(Int32(5))))
        #expect(hex(NetlinkMessage.setLink(index: 3, change, seq: 9)) == hex(expected))
    }

    @Test("set link down and clear alias (zero-length IFLA_IFALIAS)")
    func setLinkDownClearAlias() {
        let expected = message(
            type: K.RTM_NEWLINK, flags: K.REQUEST_ACK, seq: 1, header: ifinfo(index: 3, flags: 0, change: 1),
            [4, 0, UInt8(K.IFLA_IFALIAS), 0])
        #expect(hex(NetlinkMessage.setLink(index: 3, LinkChange(up: false, alias: ""), seq: 1)) == hex(expected))
        // Nothing to change: header only, flags untouched.
        #expect(
            hex(NetlinkMessage.setLink(index: 3, LinkChange(), seq: 1))
                == hex(message(type: K.RTM_NEWLINK, flags: K.REQUEST_ACK, seq: 1, header: ifinfo(index: 3))))
        #expect(LinkChange().isEmpty && !LinkChange(alias: "").isEmpty)
    }

    @Test("add IPv4 address with broadcast")
    func addV4() {
        let expected = message(
            type: K.RTM_NEWADDR, flags: K.CREATE, seq: 7, header: ifaddr(family: 2, prefixlen: 24, index: 4),
            attr(K.IFA_LOCAL, [10, 0, 1, 5]), attr(K.IFA_ADDRESS, [10, 0, 1, 5]), attr(K.IFA_BROADCAST, [10, 0, 1, 255]))
        #expect(hex(NetlinkMessage.newAddress(pfx("10.0.1.5/24"), index: 4, seq: 7)) == hex(expected))
    }

    @Test("add IPv4 /31 and /32: no broadcast", arguments: [31, 32])
    func addV4NoBroadcast(length: Int) {
        let expected = message(
            type: K.RTM_NEWADDR, flags: K.CREATE, seq: 7,
            header: ifaddr(family: 2, prefixlen: UInt8(length), index: 4),
            attr(K.IFA_LOCAL, [10, 0, 1, 4]), attr(K.IFA_ADDRESS, [10, 0, 1, 4]))
        #expect(hex(NetlinkMessage.newAddress(pfx("10.0.1.4/\(length)"), index: 4, seq: 7)) == hex(expected))
    }

    @Test("add IPv6 address without DAD")
    func addV6NoDAD() {
        let a = ip("2001:db8::5").bytes
        let expected = message(
            type: K.RTM_NEWADDR, flags: K.CREATE, seq: 8, header: ifaddr(family: 10, prefixlen: 64, flags: 2, index: 6),
            attr(K.IFA_LOCAL, a), attr(K.IFA_ADDRESS, a), attr(K.IFA_FLAGS, le32(UInt32(2))))
        #expect(hex(NetlinkMessage.newAddress(pfx("2001:db8::5/64"), index: 6, noDAD: true, seq: 8)) == hex(expected))
    }

    @Test("delete address and dump addresses")
    func deleteAndDumpAddresses() {
        let expected = message(
            type: K.RTM_DELADDR, flags: K.REQUEST_ACK, seq: 1, header: ifaddr(family: 2, prefixlen: 24, index: 4),
            attr(K.IFA_LOCAL, [10, 0, 1, 5]), attr(K.IFA_ADDRESS, [10, 0, 1, 5]))
        #expect(hex(NetlinkMessage.deleteAddress(pfx("10.0.1.5/24"), index: 4, seq: 1)) == hex(expected))
        #expect(
            hex(NetlinkMessage.dumpAddresses(seq: 2))
                == hex(message(type: K.RTM_GETADDR, flags: K.DUMP, seq: 2, header: [0, 0, 0, 0, 0, 0, 0, 0])))
    }

    @Test("add IPv4 default route via gateway (ip route add default via 10.0.0.1 dev <3>)")
    func addDefaultRoute() {
        let expected = message(
            type: K.RTM_NEWROUTE, flags: K.CREATE, seq: 5,
            header: rtmsgBytes(family: 2, dstLen: 0, table: 254, proto: 3, scope: 0, type: 1),
            attr(K.RTA_GATEWAY, [10, 0, 0, 1]), attr(K.RTA_OIF, le32(Int32(3))))
        let route = Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.0.0.1"), outputIndex: 3)
        #expect(hex(NetlinkMessage.newRoute(route, seq: 5)) == hex(expected))
    }

    @Test("add on-link route in table 1000 with metric, source and metrics")
    func addTableRoute() {
        let expected = message(
            type: K.RTM_NEWROUTE, flags: K.CREATE, seq: 6,
            header: rtmsgBytes(family: 2, dstLen: 24, table: 0, proto: 3, scope: 253, type: 1),
            attr(K.RTA_TABLE, le32(UInt32(1000))),
            attr(K.RTA_DST, [192, 168, 7, 0]),
            attr(K.RTA_PREFSRC, [192, 168, 7, 9]),
            attr(K.RTA_OIF, le32(Int32(8))),
            attr(K.RTA_PRIORITY, le32(UInt32(50))),
            nested(K.RTA_METRICS, attr(K.RTAX_MTU, le32(UInt32(9001))), attr(K.RTAX_ADVMSS, le32(UInt32(8961)))))
        let route = Route(
            destination: pfx("192.168.7.0/24"), outputIndex: 8, table: 1000, priority: 50, mtu: 9001, advmss: 8961,
            source: ip("192.168.7.9"))
        #expect(hex(NetlinkMessage.newRoute(route, seq: 6)) == hex(expected))
    }

    @Test("small table numbers travel in rtm_table only; explicit scope wins")
    func smallTable() {
        let expected = message(
            type: K.RTM_NEWROUTE, flags: K.CREATE, seq: 1,
            header: rtmsgBytes(family: 2, dstLen: 32, table: 100, proto: 3, scope: 254, type: 1),
            attr(K.RTA_DST, [169, 254, 1, 1]), attr(K.RTA_OIF, le32(Int32(2))))
        let route = Route(destination: pfx("169.254.1.1/32"), outputIndex: 2, table: 100, scope: 254)
        #expect(hex(NetlinkMessage.newRoute(route, seq: 1)) == hex(expected))
    }

    @Test("IPv6 route via gateway keeps universe scope")
    func addV6Route() {
        let expected = message(
            type: K.RTM_NEWROUTE, flags: K.CREATE, seq: 1,
            header: rtmsgBytes(family: 10, dstLen: 48, table: 254, proto: 3, scope: 0, type: 1),
            attr(K.RTA_DST, ip("2001:db8:1::").bytes), attr(K.RTA_GATEWAY, ip("fe80::1").bytes),
            attr(K.RTA_OIF, le32(Int32(2))))
        let route = Route(destination: pfx("2001:db8:1::/48"), gateway: ip("fe80::1"), outputIndex: 2)
        #expect(hex(NetlinkMessage.newRoute(route, seq: 1)) == hex(expected))
        // An IPv6 on-link route also stays universe (the kernel ignores scope for IPv6).
        let onLink = Route(destination: pfx("2001:db8:2::/64"), outputIndex: 2)
        #expect(NetlinkMessage.newRoute(onLink, seq: 1)[16 + 6] == 0)
    }

    @Test("delete route: any protocol, any type, scope nowhere, no metrics")
    func deleteRoute() {
        let expected = message(
            type: K.RTM_DELROUTE, flags: K.REQUEST_ACK, seq: 2,
            header: rtmsgBytes(family: 2, dstLen: 0, table: 254, proto: 0, scope: 255, type: 0),
            attr(K.RTA_GATEWAY, [10, 0, 0, 1]), attr(K.RTA_PRIORITY, le32(UInt32(10))))
        let route = Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.0.0.1"), priority: 10, mtu: 1500)
        #expect(hex(NetlinkMessage.deleteRoute(route, seq: 2)) == hex(expected))
    }

    @Test("route dump")
    func dumpRoutes() {
        #expect(
            hex(NetlinkMessage.dumpRoutes(seq: 3))
                == hex(message(type: K.RTM_GETROUTE, flags: K.DUMP, seq: 3,
                               header: rtmsgBytes(family: 0, dstLen: 0, table: 0, proto: 0, scope: 0, type: 0))))
    }

    @Test("long names and aliases fit (buffer sized from the strings)")
    func longStrings() {
        let alias = String(repeating: "a", count: 5000)
        let built = NetlinkMessage.setLink(index: 1, LinkChange(alias: alias), seq: 1)
        #expect(built.count == 32 + 4 + 5000)
        #expect(Int(built.hostU32(at: 0)) == built.count)
    }
}
