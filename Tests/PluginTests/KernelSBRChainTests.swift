import Foundation
import Testing
import JSON
import TestSupport

/// Traffic that must leave through the pod's ENI by source: eni-multus chained with the reference `sbr` plugin in a
/// plugin list. sbr takes our result as prevResult and moves the routes of our
/// interface into a table of its own, with an `ip rule` from the pod's address: replies from the secondary address
/// leave through the ENI whatever the pod's default route (eth0, the VPC CNI's) says. Inside user-mode Linux: ipvlan.
/// The example is cni-conf/ipvlan-sbr-chain.yaml.
@Suite(.tier(), .serialized)
struct KernelSBRChainTests {
    static let sbr = "/usr/lib/cni/sbr"

    /// The example's two plugins (cni-conf/ipvlan-sbr-chain.yaml), flattened as libcni hands them out, with what
    /// belongs to a real node swapped for this fixture: the master is the fixture's `eni0` (no EC2 here: the eni
    /// block goes), the range is 10.66.0.0/24. Every other field, sbr's entry and the routes are the example's.
    static func chain() throws -> (ours: String, sbr: String) {
        let plugins = try UnitConfExamplesTests.configs("ipvlan-sbr-chain.yaml")
        #expect(plugins.map { $0["type"]?.stringValue } == ["eni-multus", "sbr"])
        guard plugins.count == 2, case .object(var ours) = plugins[0] else { throw HarnessError("not a two-plugin chain") }
        ours["eni"] = nil
        ours["clusterName"] = nil
        ours["master"] = .string("eni0")
        guard case .object(var ipam)? = ours["ipam"] else { throw HarnessError("no ipam object") }
        ipam["ranges"] = try JSON.parse(#"[[{"subnet":"10.66.0.0/24"}]]"#)
        ours["ipam"] = .object(ipam)
        return (JSON.object(ours).serialized(), plugins[1].serialized())
    }

    func runSBR(_ f: NodeFixture, _ verb: String, conf: String) -> ShellResult {
        f.node.exec([Self.sbr], stdin: Array(conf.utf8), env: [
            "CNI_COMMAND": verb, "CNI_CONTAINERID": "ctr1", "CNI_NETNS": f.pod.path, "CNI_IFNAME": "net1",
            "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 60)
    }

    func rules(_ f: NodeFixture) throws -> [String] {
        try f.pod.check(["ip", "-4", "rule", "show"]).split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: KernelSBRChainTests.sbr) || Capabilities.isCI))
    func sbrChainedAfterEniMultusRoutesByTheSourceAddress() throws {
        let (ours, sbrConf) = try Self.chain()
        let f = try NodeFixture()
        defer { f.close() }
        let add = try f.h.run("ADD", conf: ours, netns: f.pod.path)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let result = add.stdout
        let addr = try #require(try parseJSON(result)["ips"]?[0]?["address"]?.stringValue)
        let ip = String(addr.split(separator: "/")[0])
        #expect(routes(f.pod).contains("default via 10.66.0.1 dev net1"), "our result's default route, before sbr")

        let chained = String(sbrConf.dropLast()) + #","prevResult":\#(result)}"#
        let sbrAdd = runSBR(f, "ADD", conf: chained)
        #expect(sbrAdd.status == 0, "sbr ADD: \(sbrAdd.stdout) \(sbrAdd.stderr)")
        // sbr passes our result on unchanged (what Multus then records for the pod).
        #expect(try parseJSON(sbrAdd.stdout)["ips"]?[0]?["address"]?.stringValue == addr)
        let rs = try rules(f)
        let rule = try #require(rs.first { $0.contains("from \(ip) lookup") }, "no source rule for \(ip): \(rs)")
        let table = String(try #require(rule.split(separator: " ").last))
        let inTable = try f.pod.check(["ip", "-4", "route", "show", "table", table])
        #expect(inTable.contains("default via 10.66.0.1 dev net1"), "table \(table): \(inTable)")
        #expect(inTable.contains("10.67.0.0/16 via 10.66.0.1 dev net1"), "table \(table): \(inTable)")
        #expect(!routes(f.pod).contains { $0.hasPrefix("default") && $0.contains("dev net1") },
                "the main table no longer sends everything through net1")
        // A lookup from the pod's address picks the ENI; CHECK of ours still holds after sbr moved the routes.
        let get = try f.pod.check(["ip", "-4", "route", "get", "192.0.2.10", "from", ip])
        #expect(get.contains("dev net1") && get.contains("via 10.66.0.1"), "\(get)")

        // DEL in reverse order: sbr, then ours. Nothing of either is left.
        let sbrDel = runSBR(f, "DEL", conf: chained)
        #expect(sbrDel.status == 0, "sbr DEL: \(sbrDel.stdout) \(sbrDel.stderr)")
        #expect(try !rules(f).contains { $0.contains("from \(ip)") })
        let withPrev = String(ours.dropLast()) + #","prevResult":\#(result)}"#
        let del = try f.h.run("DEL", conf: withPrev, netns: f.pod.path)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(linkInfo(f.pod, "net1") == nil)
        #expect(f.h.stateFiles().isEmpty, "\(f.h.stateFiles())")
    }
}
