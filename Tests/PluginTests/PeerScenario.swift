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
