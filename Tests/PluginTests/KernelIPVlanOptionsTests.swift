import Foundation
import Testing
import CNI
@testable import ENIMultusCore
import IPAM
import JSON
import TestSupport
import NodeState

/// ipvlan options (inside user-mode Linux): flags and MTU actually applied, CHECK noticing removed
/// addresses and routes, the temporary-name path, delegated IPAM rollback.
@Suite(.tier(), .serialized)
struct KernelIPVlanOptionsTests {
    static func conf(_ extra: String = "", version: String = "1.1.0",
                     ipam: String = #"{"type":"eni-multus","subnet":"10.66.0.0/24","routes":[{"dst":"10.67.0.0/16"}]}"#) -> String {
        #"{"cniVersion":"\#(version)","name":"revipv","type":"eni-multus","master":"eni0","ipam":\#(ipam)\#(extra)}"#
    }

    typealias Fixture = NodeFixture

    static func infoData(_ ns: TestNetns, _ name: String) -> [String: Any]? {
        (linkInfo(ns, name)?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
    }

    @Test(arguments: ["bridge", "private", "vepa"])
    func flagIsApplied(flag: String) throws {
        let f = try Fixture()
        defer { f.close() }
        let conf = Self.conf(#","mode":"l2","flag":"\#(flag)""#)
        let add = try f.h.run("ADD", conf: conf, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let data = try #require(Self.infoData(f.pod, "net1"))
        #expect(data["mode"] as? String == "l2")
        // iproute2 prints the flag as a boolean member named after it.
        #expect(data[flag] as? Bool == true, "ip -d link: \(data)")
        for other in ["bridge", "private", "vepa"] where other != flag {
            #expect(data[other] == nil, "ip -d link: \(data)")
        }
        #expect(try f.h.run("DEL", conf: conf, netns: f.pod.path).exitCode == 0)
    }

    @Test func mtuFollowsTheMasterByDefaultAndAnExplicitOneIsApplied() throws {
        let f = try Fixture()
        defer { f.close() }
        try f.node.ip("link", "set", "eni0", "mtu", "1400")
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(linkInfo(f.pod, "net1")?["mtu"] as? Int == 1400)
        #expect(try parseJSON(add.stdout)["interfaces"]?[0]?["mtu"]?.int64Value == 1400)
        #expect(try f.h.run("DEL", conf: Self.conf(), netns: f.pod.path).exitCode == 0)

        let explicit = Self.conf(#","mtu":1300"#)
        let add2 = try f.h.run("ADD", conf: explicit, netns: f.pod.path)
        #expect(add2.exitCode == 0, "\(add2.stdout)")
        #expect(linkInfo(f.pod, "net1")?["mtu"] as? Int == 1300)
        #expect(try parseJSON(add2.stdout)["interfaces"]?[0]?["mtu"]?.int64Value == 1300)
        #expect(linkInfo(f.node, "eni0")?["mtu"] as? Int == 1400, "the master's MTU is not changed")
        #expect(try f.h.run("DEL", conf: explicit, netns: f.pod.path).exitCode == 0)

    }

    @Test func checkFailsWhenAnAddressOrRouteIsRemoved() throws {
        let f = try Fixture()
        defer { f.close() }
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let withPrev = Self.conf(#","prevResult":\#(add.stdout)"#)
        #expect(try f.h.run("CHECK", conf: withPrev, netns: f.pod.path).exitCode == 0)

        try f.pod.ip("route", "del", "10.67.0.0/16")
        let noRoute = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path)
        #expect(noRoute.exitCode != 0)
        #expect(try parseJSON(noRoute.stdout)["code"]?.int64Value == 105)
        #expect(try parseJSON(noRoute.stdout)["msg"]?.stringValue?.contains("10.67.0.0/16") == true)

        try f.pod.ip("addr", "del", "10.66.0.2/24", "dev", "net1")
        let noAddr = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path)
        #expect(noAddr.exitCode != 0)
        let e = try parseJSON(noAddr.stdout)
        #expect(e["code"]?.int64Value == 105)
        #expect(e["msg"]?.stringValue?.contains("10.66.0.2/24") == true)

        // The link gone altogether.
        try f.pod.ip("link", "del", "net1")
        let gone = try f.h.run("CHECK", conf: withPrev, netns: f.pod.path)
        #expect(try parseJSON(gone.stdout)["code"]?.int64Value == 105)
        #expect(try f.h.run("DEL", conf: withPrev, netns: f.pod.path).exitCode == 0)
        #expect(f.h.stateFiles().isEmpty)
    }

    /// The link is created under a temporary name directly in the pod netns, then renamed: an interface named like
    /// CNI_IFNAME in the node netns does not matter, a clash with the temporary name in the pod netns (a device
    /// that is not our ipvlan) makes ADD fail (and roll back). The temporary name is derived from the attachment.
    /// (A clash with the temporary name in the *node* netns does fail: rtnetlink looks the name up in the caller's
    /// netns first — which is why the plugin cannot create the link as CNI_IFNAME directly.)
    @Test func createdUnderATemporaryNameInThePodNetns() throws {
        let f = try Fixture()
        defer { f.close() }
        let tmp = IPVlanDriver.temporaryName(AttachmentKey(containerID: "ctr1", ifname: "net1"))
        #expect(tmp.count == 13 && tmp.hasPrefix("emt"))
        #expect(IPVlanDriver.temporaryName(AttachmentKey(containerID: "ctr1", ifname: "net2")) != tmp)
        try f.node.ip("link", "add", "net1", "type", "veth", "peer", "name", "revx0")
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(add.exitCode == 0, "a node interface named like CNI_IFNAME must not matter: \(add.stdout)")
        #expect(linkInfo(f.pod, "net1") != nil)
        #expect(try f.h.run("DEL", conf: Self.conf(), netns: f.pod.path).exitCode == 0)

        try f.pod.ip("link", "add", tmp, "type", "veth", "peer", "name", "revy0")
        let podBefore = try f.pod.snapshot()
        let clash = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(clash.exitCode != 0, "ADD must have tried to create \(tmp) in the pod netns")
        let e = try parseJSON(clash.stdout)
        #expect(e["code"]?.int64Value == 100)
        #expect(e["msg"]?.stringValue?.contains(tmp) == true)
        #expect(try f.pod.snapshot() == podBefore)
        #expect(f.h.stateFiles().isEmpty)
    }

    /// An ADD killed between create and rename leaves an ipvlan under the attachment's temporary name: the DEL
    /// that follows removes it, and so does a retried ADD that comes without a DEL.
    @Test func leftoverUnderTheTemporaryNameIsRemoved() throws {
        let f = try Fixture()
        defer { f.close() }
        let tmp = IPVlanDriver.temporaryName(AttachmentKey(containerID: "ctr1", ifname: "net1"))
        func leaveOne() throws {
            try f.node.ip("link", "add", tmp, "link", "eni0", "type", "ipvlan", "mode", "l2")
            try f.node.ip("link", "set", tmp, "netns", f.pod.name)
            #expect(linkInfo(f.pod, tmp) != nil)
        }
        try leaveOne()
        let podLinks = { try ipJSON(netns: f.pod, ["link", "show"]).compactMap { $0["ifname"] as? String }.sorted() }
        #expect(try f.h.run("DEL", conf: Self.conf(), netns: f.pod.path).exitCode == 0)
        #expect(try podLinks() == ["lo"])

        try leaveOne()
        let add = try f.h.run("ADD", conf: Self.conf(), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        #expect(try podLinks() == ["lo", "net1"])
        #expect(try f.h.run("DEL", conf: Self.conf(), netns: f.pod.path).exitCode == 0)
        #expect(try podLinks() == ["lo"])
        #expect(f.h.stateFiles().isEmpty)
    }

    @Test func delegatedIPAMDelRunsOnRollback() throws {
        let f = try Fixture()
        defer { f.close() }
        let fake = try FakeDelegatedIPAM(result: #"{"cniVersion":"1.0.0","ips":[{"address":"10.66.0.9/24","gateway":"10.66.0.1"}],"routes":[{"dst":"10.67.0.0/16","gw":"10.99.0.1"}]}"#)
        defer { fake.cleanup() }
        let podBefore = try f.pod.snapshot(), nodeBefore = try f.node.snapshot()
        let add = try f.h.run("ADD", conf: Self.conf(version: "1.0.0", ipam: #"{"type":"revipam"}"#), netns: f.pod.path,
                              cniPath: fake.dir)
        #expect(add.exitCode != 0)
        #expect(try parseJSON(add.stdout)["code"]?.int64Value == 100)
        #expect(fake.calls == ["ADD ctr1 net1", "DEL ctr1 net1"])
        #expect(try f.pod.snapshot() == podBefore)
        #expect(try f.node.snapshot() == nodeBefore)
    }

    /// GARPs and unsolicited NAs on the wire while an l2 ADD runs (tcpdump listening first; `count` packets or 10 s).
    func announcements(_ f: Fixture, announce: Bool, count: Int) throws -> (garps: Int, nas: Int, text: String) {
        let capture = TcpdumpCapture(arguments: ["netns", "exec", f.node.name, "timeout", "-s", "KILL", "10", "tcpdump", "-l", "-n",
                                                 "-c", "\(count)", "-i", "eni0peer", "arp or (icmp6 and ip6[40] == 136)"])
        try capture.start()
        let ipam = #"{"type":"eni-multus","ranges":[[{"subnet":"10.66.0.0/24"}],[{"subnet":"fd66::/64"}]]}"#
        let add = try f.h.run("ADD", conf: Self.conf(announce ? #","announce":true"# : "", ipam: ipam), netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        // Never wait on the capture unboundedly.
        let text = capture.finish(timeout: 15)
        let garps = text.split(separator: "\n").filter { $0.contains("who-has 10.66.0.2 tell 10.66.0.2") }.count
        let nas = text.split(separator: "\n").filter { $0.contains("neighbor advertisement") && $0.contains("fd66::2") }.count
        return (garps, nas, text)
    }

    /// By default the kernel announces on link-up (the plugin sets arp_notify and ndisc_notify): a GARP and an
    /// unsolicited NA arrive, and the plugin opens no packet socket of its own.
    @Test func l2TheKernelAnnouncesByDefault() throws {
        let f = try Fixture()
        defer { f.close() }
        let a = try announcements(f, announce: false, count: 2)
        #expect(a.garps >= 1, "the kernel's GARP (arp_notify) expected:\n\(a.text)")
        #expect(a.nas >= 1, "the kernel's NA (ndisc_notify) expected:\n\(a.text)")
    }

    /// `"announce": true`: one gratuitous ARP from the plugin on top of the kernel's own, and likewise one
    /// unsolicited NA for the IPv6 address.
    @Test func l2AnnouncesEachAddressItselfWhenAsked() throws {
        let f = try Fixture()
        defer { f.close() }
        let a = try announcements(f, announce: true, count: 4)
        #expect(a.garps >= 2, "kernel + plugin GARPs expected:\n\(a.text)")
        #expect(a.nas >= 2, "kernel + plugin NAs expected:\n\(a.text)")
    }
}
