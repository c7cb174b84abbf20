import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// ipvlan needs a kernel with the driver: these run inside user-mode Linux (scripts/uml/run.sh).
@Suite(.tier(), .serialized)
struct KernelIPVlanTests {
    static func conf(mode: String = "l2", version: String = "1.1.0", master: String = #""master":"eni0""#,
                     ipam: String? = nil, extra: String = "") -> String {
        let ipamJSON = ipam ?? #"{"type":"eni-multus","ranges":[[{"subnet":"10.66.0.0/24"}],[{"subnet":"fd66::/64"}]],"routes":[{"dst":"10.67.0.0/16"},{"dst":"fd67::/64"}]}"#
        return #"{"cniVersion":"\#(version)","name":"ipvnet","type":"eni-multus",\#(master),"mode":"\#(mode)","ipam":\#(ipamJSON)\#(extra)}"#
    }

    typealias Fixture = NodeFixture

    @Test(arguments: ["l2", "l3", "l3s"])
    func addCheckDel(mode: String) throws {
        let f = try Fixture()
        defer { f.close() }
        let masterMAC = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        let podBefore = try f.pod.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(mode: mode), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let r = try parseJSON(add.stdout)
        #expect(r["interfaces"]?[0]?["name"]?.stringValue == "net1")
        #expect(r["interfaces"]?[0]?["mac"]?.stringValue == masterMAC)
        #expect(r["ips"]?.arrayValue?.count == 2)
        #expect(r["ips"]?[0]?["address"]?.stringValue == "10.66.0.2/24")
        #expect(r["ips"]?[1]?["address"]?.stringValue == "fd66::2/64")

        let link = try #require(linkInfo(f.pod, "net1"))
        let info = try #require(link["linkinfo"] as? [String: Any])
        #expect(info["info_kind"] as? String == "ipvlan")
        #expect((info["info_data"] as? [String: Any])?["mode"] as? String == mode)
        #expect(link["address"] as? String == masterMAC)
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        #expect(addresses(f.pod, "net1") == ["10.66.0.2/24", "fd66::2/64"])
        #expect(routes(f.pod).contains("10.67.0.0/16 via 10.66.0.1 dev net1"))
        #expect(routes(f.pod, family: "-6").contains("fd67::/64 via fd66::1 dev net1"))
        // The temporary name never survives, and the sysctls are set.
        let podLinks = try ipJSON(netns: f.pod, ["link", "show"]).compactMap { $0["ifname"] as? String }
        #expect(podLinks.sorted() == ["lo", "net1"])
        #expect(try f.pod.check(["cat", "/proc/sys/net/ipv4/conf/net1/arp_notify"]).hasPrefix("1"))
        #expect(try f.pod.check(["cat", "/proc/sys/net/ipv6/conf/net1/ndisc_notify"]).hasPrefix("1"))

        let withPrev = Self.conf(mode: mode, extra: #","prevResult":\#(add.stdout)"#)
        let check = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path)
        #expect(check.exitCode == 0, "\(check.stdout)")

        // CHECK notices a mode change made behind our back.
        let other = mode == "l2" ? "l3" : "l2"
        let wrong = try f.h.run("CHECK", conf: Self.conf(mode: other, extra: #","prevResult":\#(add.stdout)"#), netns: f.pod.path)
        #expect(wrong.exitCode != 0)
        #expect(try parseJSON(wrong.stdout)["msg"]?.stringValue?.contains("mode") == true)

        let del = try f.h.run("DEL", conf: withPrev, netns: f.pod.path)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(linkInfo(f.pod, "net1") == nil)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
        #expect(try f.h.run("DEL", conf: withPrev, netns: f.pod.path).exitCode == 0)
    }

    @Test func masterByMACAndMissingMaster() throws {
        let f = try Fixture()
        defer { f.close() }
        let mac = try #require(linkInfo(f.node, "eni0")?["address"] as? String)
        let add = try f.h.run("ADD", conf: Self.conf(master: #""masterMAC":"\#(mac)""#), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(try f.h.run("DEL", conf: Self.conf(master: #""masterMAC":"\#(mac)""#), netns: f.pod.path).exitCode == 0)

        let missing = try f.h.run("ADD", conf: Self.conf(master: #""master":"nosuch0""#), netns: f.pod.path)
        #expect(missing.exitCode != 0)
        let e = try parseJSON(missing.stdout)
        #expect(e["code"]?.int64Value == 7)
        #expect(e["msg"]?.stringValue?.contains("nosuch0") == true)
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func refusesThePrimaryInterfaceAsMasterUnlessAllowed() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.node.ip("addr", "add", "192.0.2.10/24", "dev", "eni0")
        try f.node.ip("route", "add", "default", "via", "192.0.2.1", "dev", "eni0")
        let podBefore = try f.pod.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        let e = try parseJSON(add.stdout)
        #expect(e["code"]?.int64Value == 7)
        #expect(e["msg"]?.stringValue?.contains("primary interface") == true)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
        let allowed = try f.h.run("ADD", conf: Self.conf(extra: #","allowPrimary":true"#), netns: f.pod.path)
        #expect(allowed.exitCode == 0, "\(allowed.stdout)")
    }

    @Test func existingIfnameFailsAndCreatesNothing() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.pod.ip("link", "add", "net1", "type", "veth", "peer", "name", "x1")
        let podBefore = try f.pod.snapshot(), nodeBefore = try f.node.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(add.exitCode != 0)
        #expect(try parseJSON(add.stdout)["code"]?.int64Value == 4)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func failureAfterCreateRollsBackLinkAndReservation() throws {
        let f = try Fixture()
        defer { f.close() }
        let ipam = #"{"type":"eni-multus","subnet":"10.66.0.0/24","routes":[{"dst":"10.67.0.0/16","gw":"10.99.0.1"}]}"#
        let podBefore = try f.pod.snapshot(), nodeBefore = try f.node.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(ipam: ipam), netns: f.pod.path)
        #expect(add.exitCode != 0)
        #expect(try parseJSON(add.stdout)["code"]?.int64Value == 100)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(try f.node.snapshot() == nodeBefore)
        #expect(f.h.stateFiles().isEmpty)
        // The address is free again: asking for it explicitly succeeds.
        let ok = try f.h.run("ADD", conf: Self.conf(ipam: #"{"type":"eni-multus","subnet":"10.66.0.0/24"}"#), netns: f.pod.path,
                             cniArgs: "IP=10.66.0.2")
        #expect(ok.exitCode == 0, "\(ok.stdout)")
        #expect(try parseJSON(ok.stdout)["ips"]?[0]?["address"]?.stringValue == "10.66.0.2/24")
    }

    @Test func sameAddressOnTwoSlavesIsRefusedAndRolledBack() throws {
        let f = try Fixture()
        defer { f.close() }
        let pod2 = try TestNetns(prefix: "emtpod")
        defer { pod2.delete() }
        // Two networks with independent stores but the same range on the same master: the kernel refuses the
        // second slave's address (EADDRINUSE) and ours leaves nothing behind.
        let a = try f.h.run("ADD", conf: Self.conf(ipam: #"{"type":"eni-multus","subnet":"10.66.0.0/24"}"#), netns: f.pod.path)
        #expect(a.exitCode == 0)
        let h2 = try PluginHarness(node: f.node)
        defer { h2.cleanup() }
        let pod2Before = try pod2.snapshot()
        let b = try h2.run("ADD", conf: Self.conf(ipam: #"{"type":"eni-multus","subnet":"10.66.0.0/24"}"#), containerID: "ctr2", netns: pod2.path)
        #expect(b.exitCode != 0)
        #expect(try parseJSON(b.stdout)["msg"]?.stringValue?.contains("10.66.0.2") == true)
        #expect(try pod2.snapshot() == pod2Before)
        #expect(h2.stateFiles().isEmpty)
    }

    @Test func l2SendsAGratuitousARP() throws {
        let f = try Fixture()
        defer { f.close() }
        // tcpdump is listening before the ADD (TcpdumpCapture waits for its "listening on"); 1 packet or 10 s.
        let capture = TcpdumpCapture(arguments: ["netns", "exec", f.node.name, "timeout", "10", "tcpdump", "-l", "-n", "-c", "1",
                                                 "-i", "eni0peer", "arp"])
        try capture.start()
        let add = try f.h.run("ADD", conf: Self.conf(ipam: #"{"type":"eni-multus","subnet":"10.66.0.0/24"}"#), netns: f.pod.path)
        #expect(add.exitCode == 0)
        let text = capture.finish(timeout: 15)
        #expect(text.contains("who-has 10.66.0.2 tell 10.66.0.2"), "\(text)")
    }
}
