import Foundation
import Glibc
import NetTypes
import Testing

@testable import Netlink

@Suite("UnitNetlinkErrors: NetlinkError text")
struct UnitNetlinkErrorTests {
    @Test("description with and without extended ack")
    func description() {
        let plain = NetlinkError(errno: ENODEV, operation: "get link ifindex 9")
        #expect(plain.description == "get link ifindex 9: No such device")
        let acked = NetlinkError(errno: EOPNOTSUPP, operation: "create ipvlan \"x\" on ifindex 4", extAck: "Unknown device type")
        #expect(acked.description == "create ipvlan \"x\" on ifindex 4: Operation not supported (kernel: Unknown device type)")
        #expect(NetlinkError(errno: EEXIST, operation: "o", extAck: "").description == "o: File exists")
    }

    @Test("not-found and exists classification")
    func classification() {
        for code in [ENODEV, ESRCH, EADDRNOTAVAIL, ENOENT] { #expect(NetlinkError(errno: code, operation: "").isNotFound) }
        #expect(!NetlinkError(errno: EEXIST, operation: "").isNotFound)
        #expect(NetlinkError(errno: EEXIST, operation: "").isAlreadyExists)
    }
}

@Suite("UnitNetlinkSysctl: key checks and file round trip under an injected root")
struct UnitNetlinkSysctlTests {
    @Test("rejected keys", arguments: ["", "/net/ipv4/ip_forward", "net/../../etc/passwd", "..", "net//ipv4", "net/ipv4/"])
    func rejects(key: String) {
        #expect(throws: NetlinkError.self) { try Sysctl.resolve(key, root: "/proc/sys") }
        do {
            try Sysctl.write(key, "1", root: "/nonexistent")
            Issue.record("write accepted \(key)")
        } catch {
            #expect(error.errno == EINVAL)
            #expect(error.operation.contains("invalid sysctl key"))
        }
    }

    @Test("interface names with dots are fine")
    func dottedNames() throws {
        #expect(try Sysctl.resolve("net/ipv4/conf/eth0.100/arp_notify", root: "/r/") == "/r/net/ipv4/conf/eth0.100/arp_notify")
    }

    @Test("write then read under a temporary root; missing key is ENOENT")
    func roundTrip() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sysctl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("net/ipv4/conf/eth0")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("arp_notify").path, contents: Data("0\n".utf8))
        #expect(try Sysctl.read("net/ipv4/conf/eth0/arp_notify", root: root.path) == "0")
        try Sysctl.write("net/ipv4/conf/eth0/arp_notify", "1", root: root.path)
        #expect(try Sysctl.read("net/ipv4/conf/eth0/arp_notify", root: root.path) == "1")
        do {
            _ = try Sysctl.read("net/ipv4/conf/eth9/arp_notify", root: root.path)
            Issue.record("read of a missing key succeeded")
        } catch {
            #expect(error.errno == ENOENT && error.isNotFound)
        }
    }
}

@Suite("UnitNetlinkAnnounce: ARP and neighbour advertisement bodies")
struct UnitNetlinkAnnounceTests {
    @Test("gratuitous ARP body")
    func arp() {
        let body = Announce.arpPacket(hardwareAddress: mac("02:00:0a:01:00:05"), address: ip("10.1.0.5"))
        let expected: [UInt8] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
            0x02, 0x00, 0x0a, 0x01, 0x00, 0x05, 10, 1, 0, 5,
            0, 0, 0, 0, 0, 0, 10, 1, 0, 5,
        ]
        #expect(body == expected)
    }

    @Test("unsolicited neighbour advertisement body")
    func na() {
        let body = Announce.neighborAdvertisement(hardwareAddress: mac("02:00:00:00:00:07"), target: ip("2001:db8::7"))
        var expected: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0]
        expected += [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07]
        expected += [2, 1, 2, 0, 0, 0, 0, 7]
        #expect(body == expected)
    }

    @Test("wrong address family is refused before any socket")
    func families() {
        do {
            try Announce.gratuitousARP(index: 1, hardwareAddress: mac("02:00:00:00:00:01"), address: ip("2001:db8::1"))
            Issue.record("GARP for IPv6 accepted")
        } catch {
            #expect(error.errno == EAFNOSUPPORT)
        }
        do {
            try Announce.unsolicitedNA(index: 1, hardwareAddress: mac("02:00:00:00:00:01"), address: ip("10.0.0.1"))
            Issue.record("NA for IPv4 accepted")
        } catch {
            #expect(error.errno == EAFNOSUPPORT)
        }
    }
}

@Suite("UnitNetlinkNetNS: only network namespace files are accepted")
struct UnitNetlinkNetNSTests {
    @Test("another kind of namespace, a regular file, a directory and a missing path are refused",
          arguments: ["/proc/self/ns/pid", "/proc/self/ns/mnt", "/proc/self/ns/uts", "/proc/self/status", "/proc/self",
                      "/nonexistent/netns"])
    func refused(path: String) {
        do {
            _ = try NetNS(path: path)
            Issue.record("\(path) was accepted as a network namespace")
        } catch {
            #expect(error.errno == (path.hasPrefix("/nonexistent") ? ENOENT : EINVAL), "\(error)")
        }
    }

    @Test("the thread's own network namespace is accepted")
    func accepted() throws {
        let ns = try NetNS.current()
        #expect(ns.inode != 0)
    }
}
