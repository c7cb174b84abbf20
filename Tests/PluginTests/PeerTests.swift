#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON
import TestSupport

/// The same scenario through Debian's reference plugins and through ours; results and kernel state compared
/// field by field. Documented, deliberate differences are listed where they are allowed.
struct PeerScenario {
    struct Outcome {
        var result: JSON
        var link: [String: String]
        var addresses: [String]
        var routes4: [String]
        var routes6: [String]
        var nodeAfterDel: String
        var podAfterDel: String
    }

    /// Runs ADD then DEL of `conf` with `plugin` (a path) inside a fresh node/pod pair whose node has `eni0`;
    /// with `check`, a CHECK with the ADD result as prevResult in between (it must pass); `afterAdd` sees the state
    /// while the attachment exists.
    static func run(plugin: String, conf: String, ifname: String = "net1", cniPath: String = "/usr/lib/cni",
                    check: Bool = false, afterAdd: () throws -> Void = {}) throws -> Outcome {
        let node = try TestNetns(prefix: "emtnode")
        let pod = try TestNetns(prefix: "emtpod")
        defer { pod.delete(); node.delete() }
        try makeVeth(hostName: "eni0", peerName: "eni0peer", hostNetns: node)
        // A fixed MAC so both runs see the same device.
        try node.ip("link", "set", "eni0", "address", "02:42:ac:11:00:02")
        try node.ip("link", "set", "eni0peer", "address", "02:42:ac:11:00:03")
        var env = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "peer1", "CNI_NETNS": pod.path, "CNI_IFNAME": ifname,
                   "CNI_PATH": cniPath, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let add = node.exec([plugin], stdin: Array(conf.utf8), env: env)
        guard add.status == 0 else { throw HarnessError("\(plugin) ADD failed: \(add.stdout) \(add.stderr)") }
        let l = try #require(linkInfo(pod, ifname), "\(plugin): no \(ifname) in the pod after ADD")
        let info = l["linkinfo"] as? [String: Any]
        var link: [String: String] = [
            "name": l["ifname"] as? String ?? "",
            "address": l["address"] as? String ?? "",
            "mtu": "\(l["mtu"] as? Int ?? 0)",
            "up": "\((l["flags"] as? [String])?.contains("UP") == true)",
            "kind": info?["info_kind"] as? String ?? "",
            "alias": l["ifalias"] as? String ?? "",
        ]
        if let d = info?["info_data"] as? [String: Any] { link["ipvlan_mode"] = d["mode"] as? String ?? "" }
        // The sandbox path names this run's netns; it must be ours, then it is blanked for the comparison.
        var result = try JSON.parse(add.stdout)
        if case .object(var r) = result, case .array(var ifs)? = r["interfaces"] {
            for i in ifs.indices {
                guard case .object(var o) = ifs[i] else { continue }
                #expect(o["sandbox"]?.stringValue == pod.path)
                o["sandbox"] = "(pod)"
                ifs[i] = .object(o)
            }
            r["interfaces"] = .array(ifs)
            result = .object(r)
        }
        let out = Outcome(result: result, link: link, addresses: addresses(pod, ifname),
                          routes4: routes(pod), routes6: routes(pod, family: "-6"), nodeAfterDel: "", podAfterDel: "")
        try afterAdd()
        var withPrev = try JSON.parse(conf).objectValue!
        withPrev["prevResult"] = try JSON.parse(add.stdout)
        if check {
            env["CNI_COMMAND"] = "CHECK"
            let c = node.exec([plugin], stdin: Array(JSON.object(withPrev).serialized().utf8), env: env)
            guard c.status == 0 else { throw HarnessError("\(plugin) CHECK failed: \(c.stdout) \(c.stderr)") }
        }
        env["CNI_COMMAND"] = "DEL"
        let del = node.exec([plugin], stdin: Array(JSON.object(withPrev).serialized().utf8), env: env)
        guard del.status == 0 else { throw HarnessError("\(plugin) DEL failed: \(del.stdout) \(del.stderr)") }
        var o = out
        _ = try? node.ip("link", "set", "eni0", "up")
        o.nodeAfterDel = try node.snapshot()
        o.podAfterDel = try pod.snapshot()
        return o
    }

    /// What makes a comparison mean something: each side produced an interface with a name and a MAC, at least
    /// one address (in the result and on the link), routes in each family asked for, and a non-empty snapshot of
    /// the node after DEL. Two empty sides would compare equal; this names what is missing ([] when nothing is).
    static func substanceProblems(_ o: Outcome, _ who: String, ipv6: Bool = false) -> [String] {
        var out: [String] = []
        if o.link["name", default: ""].isEmpty || o.link["address", default: ""].isEmpty { out.append("\(who): no link name or MAC \(o.link)") }
        if o.addresses.isEmpty { out.append("\(who): no address on the pod interface") }
        if (o.result["ips"]?.arrayValue ?? []).isEmpty { out.append("\(who): no ips in the result") }
        if o.routes4.isEmpty { out.append("\(who): no IPv4 route in the pod") }
        if ipv6 && o.routes6.isEmpty { out.append("\(who): no IPv6 route in the pod") }
        if o.nodeAfterDel.isEmpty { out.append("\(who): empty node snapshot after DEL") }
        return out
    }

    /// Both sides have substance (`substanceProblems`), recorded as issues.
    static func expectSubstance(_ ours: Outcome, _ ref: Outcome, ipv6: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
        for p in substanceProblems(ours, "ours", ipv6: ipv6) + substanceProblems(ref, "reference", ipv6: ipv6) {
            Issue.record(Comment(rawValue: p), sourceLocation: sourceLocation)
        }
    }

    /// Compares two results field by field (ignoring key order, as JSON does).
    static func compareResults(_ ours: JSON, _ theirs: JSON) {
        #expect(ours["cniVersion"] == theirs["cniVersion"])
        #expect(ours["interfaces"] == theirs["interfaces"], "interfaces: ours \(ours["interfaces"]?.serialized() ?? "-") reference \(theirs["interfaces"]?.serialized() ?? "-")")
        #expect(ours["ips"] == theirs["ips"], "ips: ours \(ours["ips"]?.serialized() ?? "-") reference \(theirs["ips"]?.serialized() ?? "-")")
        #expect(ours["routes"] == theirs["routes"], "routes: ours \(ours["routes"]?.serialized() ?? "-") reference \(theirs["routes"]?.serialized() ?? "-")")
        #expect(ours["dns"] == theirs["dns"])
    }
}

@Suite(.tier(.peerHost), .serialized)
struct PeerHostDeviceTests {
    @Test(arguments: ["0.3.1", "0.4.0", "1.0.0"])
    func hostDeviceMatchesTheReference(version: String) throws {
        let dataDir = try makeTempDir("emt-peer")
        defer { _ = Shell.run(["rm", "-rf", dataDir]) }
        let ipamRef = #"{"type":"host-local","subnet":"10.88.0.0/24","routes":[{"dst":"10.89.0.0/16"}],"dataDir":"\#(dataDir)/ref"}"#
        let ipamOurs = #"{"type":"eni-multus","subnet":"10.88.0.0/24","routes":[{"dst":"10.89.0.0/16"}],"dataDir":"\#(dataDir)/ours"}"#
        let ref = try PeerScenario.run(plugin: "/usr/lib/cni/host-device", conf:
            #"{"cniVersion":"\#(version)","name":"peer","type":"host-device","device":"eni0","ipam":\#(ipamRef)}"#)
        let ours = try PeerScenario.run(plugin: pluginBinary, conf:
            #"{"cniVersion":"\#(version)","name":"peer","type":"eni-multus","link":"host-device","device":"eni0","ipam":\#(ipamOurs)}"#)
        PeerScenario.expectSubstance(ours, ref)
        PeerScenario.compareResults(ours.result, ref.result)
        #expect(ours.addresses == ref.addresses)
        #expect(ours.routes4 == ref.routes4)
        // Both keep the original name in IFLA_IFALIAS while the device is in the pod.
        #expect(ours.link["alias"] == "eni0")
        #expect(ours.link == ref.link)
        // Deliberate: our DEL clears the alias once the device is home; the reference 1.1.1 leaves it behind.
        #expect(ref.nodeAfterDel.contains("link eni0 kind=veth") && ref.nodeAfterDel.contains(" alias=eni0"))
        #expect(ours.nodeAfterDel == ref.nodeAfterDel.replacingOccurrences(of: " alias=eni0", with: ""))
        #expect(ours.podAfterDel == ref.podAfterDel)
    }
}

@Suite(.tier(.peerKernel), .serialized)
struct PeerKernelIPVlanTests {
    @Test(arguments: ["l2", "l3", "l3s"])
    func ipvlanMatchesTheReference(mode: String) throws {
        let dataDir = try makeTempDir("emt-peer")
        defer { _ = Shell.run(["rm", "-rf", dataDir]) }
        func ipam(_ type: String, _ sub: String) -> String {
            #"{"type":"\#(type)","ranges":[[{"subnet":"10.88.0.0/24"}],[{"subnet":"fd88::/64"}]],"routes":[{"dst":"10.89.0.0/16"},{"dst":"fd89::/64"}],"dataDir":"\#(dataDir)/\#(sub)"}"#
        }
        let ref = try PeerScenario.run(plugin: "/usr/lib/cni/ipvlan", conf:
            #"{"cniVersion":"1.0.0","name":"peer","type":"ipvlan","master":"eni0","mode":"\#(mode)","ipam":\#(ipam("host-local", "ref"))}"#)
        let ours = try PeerScenario.run(plugin: pluginBinary, conf:
            #"{"cniVersion":"1.0.0","name":"peer","type":"eni-multus","master":"eni0","mode":"\#(mode)","ipam":\#(ipam("eni-multus", "ours"))}"#)
        PeerScenario.expectSubstance(ours, ref, ipv6: true)
        PeerScenario.compareResults(ours.result, ref.result)
        #expect(ours.link == ref.link)
        #expect(ours.addresses == ref.addresses)
        #expect(ours.routes4 == ref.routes4)
        #expect(ours.routes6 == ref.routes6)
        #expect(ours.nodeAfterDel == ref.nodeAfterDel)
        #expect(ours.podAfterDel == ref.podAfterDel)
    }
}

/// Tests of the tests (issue 18): the peer comparison's non-empty guard and the harness readers fail on what would
/// otherwise compare equal — two empty outcomes, and a read that failed.
@Suite struct UnitPeerGuardTests {
    static let empty = PeerScenario.Outcome(result: .object([:]), link: [:], addresses: [], routes4: [], routes6: [],
                                            nodeAfterDel: "", podAfterDel: "")

    @Test("two empty outcomes are reported, not compared equal")
    func emptyOutcomesAreReported() {
        let p = PeerScenario.substanceProblems(Self.empty, "ours", ipv6: true)
        #expect(p.count == 6, "\(p)")
        withKnownIssue("expectSubstance records each missing part") {
            PeerScenario.expectSubstance(Self.empty, Self.empty)
        }
    }

    @Test("a read that fails (a netns that does not exist) is an issue, not an empty answer")
    func failedReadsAreIssues() {
        let gone = "emt-no-such-netns-\(getpid())"
        withKnownIssue("the route read fails") { #expect(routes(netnsName: gone).isEmpty) }
        withKnownIssue("the address read fails") { #expect(addresses(netnsName: gone, "eth0").isEmpty) }
        withKnownIssue("the link read fails") { #expect(linkInfo(netnsName: gone, "eth0") == nil) }
    }
}
