import Glibc
import NetTypes
import Testing

@testable import Netlink
import TestSupport

@Suite("HostNetlinkNamespaces: NetNS open, create, compare, run", .serialized, .tier())
struct HostNetlinkNamespaceTests {
    @Test("anonymous namespace differs from the current one; run switches and switches back")
    func anonymous() throws {
        let host = try NetNS.current()
        let ns = try NetNS.createAnonymous()
        let differs = !ns.isSame(as: host)
        #expect(differs)
        let stillHost = try NetNS.current().isSame(as: host)
        #expect(stillHost)
        let inside = try ns.run { try NetNS.current().isSame(as: ns) }
        #expect(inside)
        let backHome = try NetNS.current().isSame(as: host)
        #expect(backHome)
        let again = try NetNS(path: "/proc/thread-self/ns/net")
        let sameAgain = again.isSame(as: host) && again.inode == host.inode
        #expect(sameAgain)
    }

    @Test("run propagates the body's error and still switches back")
    func runThrows() throws {
        let host = try NetNS.current()
        let ns = try NetNS.createAnonymous()
        struct Boom: Error {}
        #expect(throws: Boom.self) { try ns.run { throw Boom() } }
        let backHome = try NetNS.current().isSame(as: host)
        #expect(backHome)
    }

    @Test("a path that is not a namespace is EINVAL; a missing path is ENOENT")
    func badPaths() {
        do {
            _ = try NetNS(path: "/etc/passwd")
            Issue.record("opened a non-namespace")
        } catch {
            #expect(error.errno == EINVAL)
            #expect(error.operation == "\"/etc/passwd\" is not a network namespace")
        }
        do {
            _ = try NetNS(path: "/nonexistent/netns")
            Issue.record("opened a missing path")
        } catch {
            #expect(error.errno == ENOENT)
        }
    }
}

@Suite("HostNetlinkLinks: get, dump, set, move, delete on veth", .serialized, .tier())
struct HostNetlinkLinkTests {
    @Test("get by name and index; veth kind and peer; missing is nil")
    func get() throws {
        try withVethNamespace { _, socket, a, b in
            #expect(a.kind == "veth" && b.kind == "veth")
            #expect(a.parentIndex == b.index && b.parentIndex == a.index)
            #expect(a.mtu == 1500 && !a.isUp && a.hardwareAddress != nil && a.alias == nil)
            #expect(try socket.link(index: a.index) == a)
            #expect(try socket.link(named: "nlt-missing") == nil)
            #expect(try socket.link(index: 0x7fff_fff0) == nil)
            let lo = try #require(try socket.link(named: "lo"))
            #expect(lo.index == 1 && lo.type == 772 && lo.kind == nil)
        }
    }

    @Test("dump lists every link, across a multi-part reply")
    func dump() throws {
        try withVethNamespace { _, socket, a, b in
            for i in 0..<40 { try socket.createVeth(name: "nlt-m\(i)", peerName: "nlt-n\(i)") }
            let links = try socket.links()
            #expect(links.count == 3 + 80)
            let names = Set(links.map(\.name))
            #expect(names.contains("lo") && names.contains(a.name) && names.contains(b.name))
            #expect(names.contains("nlt-m39") && names.contains("nlt-n0"))
            #expect(Set(links.map(\.index)).count == links.count)
        }
    }

    @Test("rename, mtu, MAC, alias set and clear, up and down")
    func set() throws {
        try withVethNamespace { _, socket, a, b in
            let newMAC = mac("02:11:22:33:44:55")
            try socket.setLink(
                index: a.index, LinkChange(name: "nlt-renamed", mtu: 9000, alias: "eni-0123", hardwareAddress: newMAC))
            var got = try #require(try socket.link(index: a.index))
            #expect(got.name == "nlt-renamed" && got.mtu == 9000 && got.alias == "eni-0123" && got.hardwareAddress == newMAC)
            #expect(try socket.link(named: a.name) == nil)

            try socket.setLink(index: a.index, LinkChange(alias: ""))
            got = try #require(try socket.link(index: a.index))
            #expect(got.alias == nil)

            try socket.setLink(index: a.index, LinkChange(up: true))
            try socket.setLink(index: b.index, LinkChange(up: true))
            #expect(try #require(try socket.link(index: a.index)).isUp)
            try socket.setLink(index: a.index, LinkChange(up: false))
            #expect(!(try #require(try socket.link(index: a.index)).isUp))
            try socket.setLink(index: a.index, LinkChange())  // no-op
        }
    }

    @Test("MTU outside the device's range: EINVAL with the kernel's explanation", arguments: [UInt32(10), 70000])
    func badMTU(mtu: UInt32) throws {
        try withVethNamespace { _, socket, a, _ in
            let error = expectNetlinkError("mtu \(mtu)") { try socket.setLink(index: a.index, LinkChange(mtu: mtu)) }
            #expect(error?.errno == EINVAL)
            #expect(error?.operation == "set link ifindex \(a.index) (mtu \(mtu))")
            #expect(error?.extAck?.contains("mtu") == true)
        }
    }

    @Test("move to another namespace with namespaceFD, renaming on arrival")
    func move() throws {
        try withVethNamespace { ns, socket, a, _ in
            let other = try NetNS.createAnonymous()
            let otherSocket = try RouteSocket(in: other)
            try socket.setLink(index: a.index, LinkChange(name: "nlt-moved", namespaceFD: other.fd))
            #expect(try socket.link(named: a.name) == nil)
            let moved = try #require(try otherSocket.link(named: "nlt-moved"))
            #expect(moved.kind == "veth" && moved.hardwareAddress == a.hardwareAddress)
            // And back again under its old name, configured on the way.
            try otherSocket.setLink(index: moved.index, LinkChange(name: a.name, mtu: 1400, namespaceFD: ns.fd))
            #expect(try otherSocket.link(named: "nlt-moved") == nil)
            let home = try #require(try socket.link(named: a.name))
            #expect(home.mtu == 1400 && home.hardwareAddress == a.hardwareAddress)
        }
    }

    @Test("veth created with its peer directly in another namespace")
    func vethAcross() throws {
        let ns = try NetNS.createAnonymous()
        let other = try NetNS.createAnonymous()
        let socket = try RouteSocket(in: ns)
        let otherSocket = try RouteSocket(in: other)
        try socket.createVeth(name: "nlt-here", peerName: "nlt-there", peerNamespaceFD: other.fd)
        #expect(try socket.link(named: "nlt-here") != nil)
        #expect(try socket.link(named: "nlt-there") == nil)
        #expect(try otherSocket.link(named: "nlt-there")?.kind == "veth")
    }

    @Test("delete removes both ends; deleting again is ENODEV")
    func delete() throws {
        try withVethNamespace { _, socket, a, b in
            try socket.deleteLink(index: a.index)
            #expect(try socket.link(index: a.index) == nil)
            #expect(try socket.link(index: b.index) == nil)
            let error = expectNetlinkError("second delete") { try socket.deleteLink(index: a.index) }
            #expect(error?.errno == ENODEV && error?.isNotFound == true)
        }
    }

    @Test("creating an existing name is EEXIST; an unknown kind has the kernel's ext-ack text")
    func createErrors() throws {
        try withVethNamespace { _, socket, a, _ in
            let exists = expectNetlinkError("duplicate veth") { try socket.createVeth(name: a.name, peerName: "nlt-zz") }
            #expect(exists?.errno == EEXIST)
            let unknown = expectNetlinkError("unknown kind") { try socket.createLink(name: "nlt-k", kind: "nlt-no-such-kind") }
            #expect(unknown?.errno == EOPNOTSUPP)
            #expect(unknown?.extAck == "Unknown device type")
            #expect(unknown?.description.hasSuffix("(kernel: Unknown device type)") == true)
            // The socket is still in step after errors.
            let again = try socket.link(named: a.name)
            #expect(again == a)
        }
    }

    @Test("an ext-ack message on a request against a missing device")
    func missingDeviceExtAck() throws {
        try withVethNamespace { _, socket, _, _ in
            let error = expectNetlinkError("address on a missing ifindex") {
                try socket.addAddress(pfx("10.9.9.9/24"), index: 0x7fff_ffff)
            }
            #expect(error?.errno == ENODEV)
            #expect(error?.operation == "add address 10.9.9.9/24 on ifindex 2147483647")
            // Recent kernels explain it ("ipv4: Device not found"); older ones send no text.
            if let text = error?.extAck { #expect(!text.isEmpty) }
        }
    }
}

@Suite("HostNetlinkAddresses: IPv4 and IPv6 add, list, delete", .serialized, .tier())
struct HostNetlinkAddressTests {
    @Test("IPv4 add, list, duplicate, delete")
    func v4() throws {
        try withVethNamespace { _, socket, a, b in
            try socket.addAddress(pfx("10.1.0.2/24"), index: a.index)
            try socket.addAddress(pfx("10.1.0.3/32"), index: a.index)
            let listed = try socket.addresses(index: a.index)
            #expect(listed.map(\.prefix).sorted { $0.description < $1.description } == [pfx("10.1.0.2/24"), pfx("10.1.0.3/32")])
            #expect(listed.allSatisfy { $0.index == a.index && $0.scope == 0 })
            #expect(try socket.addresses(index: b.index).isEmpty)
            #expect(try socket.addresses().contains { $0.prefix == pfx("10.1.0.2/24") })

            let dup = expectNetlinkError("duplicate address") { try socket.addAddress(pfx("10.1.0.2/24"), index: a.index) }
            #expect(dup?.errno == EEXIST && dup?.isAlreadyExists == true)

            try socket.deleteAddress(pfx("10.1.0.2/24"), index: a.index)
            #expect(try socket.addresses(index: a.index).map(\.prefix) == [pfx("10.1.0.3/32")])
            let gone = expectNetlinkError("second delete") { try socket.deleteAddress(pfx("10.1.0.2/24"), index: a.index) }
            #expect(gone?.errno == EADDRNOTAVAIL)
        }
    }

    @Test("IPv6 with and without DAD")
    func v6() throws {
        try withVethNamespace { _, socket, a, b in
            try bringUp(socket, a, b)
            try socket.addAddress(pfx("2001:db8::2/64"), index: a.index, noDAD: true)
            try socket.addAddress(pfx("2001:db8::3/64"), index: a.index)
            let listed = try socket.addresses(index: a.index)
            let noDAD = try #require(listed.first { $0.prefix == pfx("2001:db8::2/64") })
            #expect(noDAD.flags & 0x02 != 0 && !noDAD.isTentative)
            let dad = try #require(listed.first { $0.prefix == pfx("2001:db8::3/64") })
            #expect(dad.flags & 0x02 == 0)
            try socket.deleteAddress(pfx("2001:db8::2/64"), index: a.index)
            try socket.deleteAddress(pfx("2001:db8::3/64"), index: a.index)
            #expect(!(try socket.addresses(index: a.index).contains { !$0.prefix.address.isV4 && $0.scope == 0 }))
        }
    }
}

@Suite("HostNetlinkRoutes: add, list, delete", .serialized, .tier())
struct HostNetlinkRouteTests {
    @Test("IPv4 routes: via gateway, default with metric, other table, metrics and source, connected")
    func v4() throws {
        try withVethNamespace { _, socket, a, b in
            try bringUp(socket, a, b)
            try socket.addAddress(pfx("10.1.0.2/24"), index: a.index)
            let viaGateway = Route(destination: pfx("192.168.50.0/24"), gateway: ip("10.1.0.1"), outputIndex: a.index)
            let defaultRoute = Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.1.0.1"), outputIndex: a.index, priority: 100)
            let inTable = Route(destination: pfx("0.0.0.0/0"), gateway: ip("10.1.0.1"), outputIndex: a.index, table: 1000)
            let smallTable = Route(destination: pfx("10.5.0.0/16"), outputIndex: a.index, table: 42)
            let tuned = Route(
                destination: pfx("192.168.60.0/24"), outputIndex: a.index, mtu: 1400, advmss: 1360, source: ip("10.1.0.2"))
            for r in [viaGateway, defaultRoute, inTable, smallTable, tuned] { try socket.addRoute(r) }

            let main = try socket.routes()
            #expect(main.contains(viaGateway))
            #expect(main.contains(defaultRoute))
            #expect(main.contains(tuned))
            #expect(!main.contains(inTable) && !main.contains(smallTable))
            #expect(main.contains(Route(destination: pfx("10.1.0.0/24"), outputIndex: a.index, source: ip("10.1.0.2"))))
            #expect(try socket.routes(table: 1000) == [inTable])
            #expect(try socket.routes(table: 42) == [smallTable])
            // Local table entries are filtered out of routes(table: 255).
            #expect(try socket.routes(table: 255).isEmpty)

            let dup = expectNetlinkError("duplicate route") { try socket.addRoute(viaGateway) }
            #expect(dup?.errno == EEXIST)

            for r in [viaGateway, defaultRoute, inTable, smallTable, tuned] { try socket.deleteRoute(r) }
            let remaining = try socket.routes().filter { $0.destination.address.isV4 }
            #expect(remaining == [Route(destination: pfx("10.1.0.0/24"), outputIndex: a.index, source: ip("10.1.0.2"))])
            #expect(try socket.routes(table: 1000).isEmpty)
            let gone = expectNetlinkError("second delete") { try socket.deleteRoute(viaGateway) }
            #expect(gone?.errno == ESRCH && gone?.isNotFound == true)
        }
    }

    @Test("an unreachable gateway is refused with errno and ext ack")
    func unreachableGateway() throws {
        try withVethNamespace { _, socket, a, b in
            try bringUp(socket, a, b)
            let error = expectNetlinkError("gateway not on link") {
                try socket.addRoute(Route(destination: pfx("0.0.0.0/0"), gateway: ip("172.31.0.1"), outputIndex: a.index))
            }
            #expect(error?.errno == ENETUNREACH)
            #expect(error?.extAck != nil)
        }
    }

    @Test("IPv6 routes: via gateway with metric, default, deletion")
    func v6() throws {
        try withVethNamespace { _, socket, a, b in
            try bringUp(socket, a, b)
            try socket.addAddress(pfx("2001:db8::2/64"), index: a.index, noDAD: true)
            let r1 = Route(destination: pfx("2001:db8:1::/64"), gateway: ip("2001:db8::1"), outputIndex: a.index, priority: 10)
            let r2 = Route(destination: pfx("::/0"), gateway: ip("fe80::1"), outputIndex: a.index, priority: 1024)
            let r3 = Route(destination: pfx("2001:db8:2::/64"), outputIndex: a.index, table: 300, priority: 5)
            try socket.addRoute(r1)
            try socket.addRoute(r2)
            try socket.addRoute(r3)
            let main = try socket.routes()
            #expect(main.contains(r1) && main.contains(r2))
            #expect(try socket.routes(table: 300) == [r3])
            // IPv6 routes without a metric get 1024 from the kernel.
            let plain = Route(destination: pfx("2001:db8:3::/64"), outputIndex: a.index)
            try socket.addRoute(plain)
            var withMetric = plain
            withMetric.priority = 1024
            #expect(try socket.routes().contains(withMetric))
            for r in [r1, r2, r3, plain] { try socket.deleteRoute(r) }
            let after = try socket.routes()
            #expect(!after.contains(r1) && !after.contains(r2) && !after.contains(withMetric))
            #expect(try socket.routes(table: 300).isEmpty)
        }
    }

    @Test("mixed families are refused before sending")
    func mixedFamilies() throws {
        try withVethNamespace { _, socket, a, _ in
            let error = expectNetlinkError("v6 gateway for v4 route") {
                try socket.addRoute(Route(destination: pfx("0.0.0.0/0"), gateway: ip("fe80::1"), outputIndex: a.index))
            }
            #expect(error?.errno == EINVAL)
        }
    }
}

@Suite("HostNetlinkSysctl: /proc/sys/net follows the opening thread's namespace", .serialized, .tier())
struct HostNetlinkSysctlTests {
    @Test("write and read inside a namespace without touching the host")
    func perNamespace() throws {
        try withVethNamespace { ns, _, a, _ in
            let hostForwarding = try Sysctl.read("net/ipv4/ip_forward")
            let inside = try ns.run { () throws -> (String, String) in
                try Sysctl.write("net/ipv4/conf/\(a.name)/arp_notify", "1")
                try Sysctl.write("net/ipv4/ip_forward", hostForwarding == "1" ? "0" : "1")
                return (try Sysctl.read("net/ipv4/conf/\(a.name)/arp_notify"), try Sysctl.read("net/ipv4/ip_forward"))
            }
            #expect(inside.0 == "1")
            #expect(inside.1 == (hostForwarding == "1" ? "0" : "1"))
            #expect(try Sysctl.read("net/ipv4/ip_forward") == hostForwarding)
            do {
                _ = try Sysctl.read("net/ipv4/conf/\(a.name)/arp_notify")
                Issue.record("the namespace's link is visible from the host")
            } catch let error as NetlinkError {
                #expect(error.errno == ENOENT)
            }
        }
    }
}

@Suite("HostNetlinkAnnounce: GARP and unsolicited NA seen on the veth peer", .serialized, .tier())
struct HostNetlinkAnnounceTests {
    @Test("gratuitous ARP")
    func garp() throws {
        try withVethNamespace { ns, socket, a, b in
            try bringUp(socket, a, b)
            try waitRunning(socket, a)
            let hw = try #require(a.hardwareAddress)
            let frame = try ns.run { () throws -> [UInt8]? in
                let capture = try openCapture(index: b.index, ethertype: 0x0806)
                defer { close(capture) }
                try Announce.gratuitousARP(index: a.index, hardwareAddress: hw, address: ip("10.1.0.2"))
                return receiveFrame(capture) { $0.count >= 42 && Array($0[28..<32]) == [10, 1, 0, 2] }
            }
            let f = try #require(frame)
            #expect(Array(f[0..<6]) == [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            #expect(Array(f[6..<12]) == hw.bytes)
            #expect(Array(f[12..<14]) == [0x08, 0x06])
            #expect(Array(f[14..<42]) == Announce.arpPacket(hardwareAddress: hw, address: ip("10.1.0.2")))
        }
    }

    @Test("unsolicited neighbour advertisement")
    func na() throws {
        try withVethNamespace { ns, socket, a, b in
            try bringUp(socket, a, b)
            try waitRunning(socket, a)
            try socket.addAddress(pfx("2001:db8::2/64"), index: a.index, noDAD: true)
            let hw = try #require(a.hardwareAddress)
            let target = ip("2001:db8::2")
            let frame = try ns.run { () throws -> [UInt8]? in
                let capture = try openCapture(index: b.index, ethertype: 0x86dd)
                defer { close(capture) }
                try Announce.unsolicitedNA(index: a.index, hardwareAddress: hw, address: target)
                return receiveFrame(capture) { f in
                    f.count >= 86 && f[20] == 58 && f[54] == 136 && Array(f[62..<78]) == target.bytes
                }
            }
            let f = try #require(frame)
            #expect(Array(f[0..<6]) == [0x33, 0x33, 0, 0, 0, 1])
            #expect(Array(f[6..<12]) == hw.bytes)
            #expect(Array(f[12..<14]) == [0x86, 0xdd])
            #expect(f[21] == 255)  // hop limit
            #expect(Array(f[22..<38]) == target.bytes)  // source
            #expect(Array(f[38..<54]) == ip("ff02::1").bytes)  // destination
            var body = Array(f[54..<86])
            #expect(icmpv6ChecksumResidue(source: target.bytes, destination: ip("ff02::1").bytes, body: body) == 0)
            body[2] = 0
            body[3] = 0
            #expect(body == Announce.neighborAdvertisement(hardwareAddress: hw, target: target))
        }
    }
}
