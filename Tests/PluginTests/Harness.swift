#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CNI
import ENIMultusCore
import JSON
import Netlink
import TestSupport

/// Runs the plugin core in-process, as if started inside `node` (the simulated node's netns) with the given env.
struct PluginHarness {
    /// The simulated node; nil runs in the test process's own netns (the UML root netns for the NIC tests).
    let node: TestNetns?
    let dataDir: String
    var random: UInt64 = 0x1234_5678_9abc

    init(node: TestNetns?) throws {
        self.node = node
        dataDir = try makeTempDir("emt-data")
    }

    func cleanup() { _ = Shell.run(["rm", "-rf", dataDir]) }

    func run(_ command: String, conf: String, containerID: String = "ctr1", netns: String, ifname: String = "net1",
             cniArgs: String? = nil, cniPath: String = "/usr/lib/cni", sys: String = "/sys",
             extraVars: [String: String] = [:]) throws -> PluginOutput {
        var vars = ["CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns,
                    "CNI_IFNAME": ifname, "CNI_PATH": cniPath].merging(extraVars) { a, _ in a }
        if let a = cniArgs { vars["CNI_ARGS"] = a }
        let rnd = random
        let env = PluginEnvironment(
            variables: vars, stdin: Array(conf.utf8), monotonicNanos: { 0 }, wallClock: { 1_700_000_000 },
            random: { rnd }, paths: .init(sys: sys, dataDir: dataDir))
        guard let node else { return Plugin.run(env) }
        let ns = try NetNS(path: node.path)
        return try ns.run { Plugin.run(env) }
    }

    /// Files left under the data directory (relative paths), ignoring the lock and cursor files and the records
    /// that outlive an attachment by design: cooling addresses (`<net>/cooling/`, checked in `coolingFiles`) and
    /// the node's verified-ENI cache (`.eni/`).
    func stateFiles() -> [String] {
        allStateFiles().filter { !$0.contains("/cooling/") && !$0.hasPrefix(".eni/") }
    }

    func coolingFiles() -> [String] { allStateFiles().filter { $0.contains("/cooling/") } }

    func allStateFiles() -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dataDir) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String {
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: dataDir + "/" + p, isDirectory: &isDir)
            if isDir.boolValue || p.hasSuffix("/lock") || p.contains("last_reserved_ip") { continue }
            out.append(p)
        }
        return out.sorted()
    }
}

func makeTempDir(_ prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw HarnessError("mkdtemp \(prefix): errno \(errno)") }
    return String(cString: p)
}

/// The built plugin binary next to the test bundle.
var pluginBinary: String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    let exe = n > 0 ? String(cString: buf) : ""
    var dir = (exe as NSString).deletingLastPathComponent
    // swift test runs .build/debug/<pkg>PackageTests.xctest; the executable sits beside it.
    while !dir.isEmpty && dir != "/" && !FileManager.default.isExecutableFile(atPath: dir + "/eni-multus") {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir + "/eni-multus"
}

func parseJSON(_ s: String) throws -> JSON { try JSON.parse(s) }

/// One link as `ip -j -d link show` reports it.
func linkInfo(_ ns: TestNetns?, _ name: String) -> [String: Any]? {
    (try? ipJSON(netns: ns, ["-d", "link", "show", "dev", name]))?.first
}

func addresses(_ ns: TestNetns?, _ name: String) -> [String] {
    guard let l = (try? ipJSON(netns: ns, ["addr", "show", "dev", name]))?.first,
          let infos = l["addr_info"] as? [[String: Any]] else { return [] }
    return infos.compactMap { i in
        guard let a = i["local"] as? String, let p = i["prefixlen"] as? Int, (i["scope"] as? String) != "link" else { return nil }
        return "\(a)/\(p)"
    }.sorted()
}

func routes(_ ns: TestNetns?, family: String = "-4") -> [String] {
    ((try? ipJSON(netns: ns, [family, "route", "show"])) ?? []).map { r in
        "\(r["dst"] as? String ?? "?") via \(r["gateway"] as? String ?? "-") dev \(r["dev"] as? String ?? "?")"
    }.sorted()
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A simulated node netns with an "ENI" stand-in (`eni0`, a veth end; its peer `eni0peer` stays beside it), a pod
/// netns, and a harness running the plugin inside the node.
struct NodeFixture {
    let node: TestNetns
    let pod: TestNetns
    let h: PluginHarness
    init() throws {
        node = try TestNetns(prefix: "emtnode")
        pod = try TestNetns(prefix: "emtpod")
        try makeVeth(hostName: "eni0", peerName: "eni0peer", hostNetns: node)
        h = try PluginHarness(node: node)
    }
    func close() { h.cleanup(); pod.delete(); node.delete() }
}
