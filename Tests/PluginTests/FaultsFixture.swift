#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import CNI
import ENIMultusCore
import Netlink
import TestSupport

/// One simulated node for a fault case: a fresh node netns with a primary interface carrying the
/// default route, an "ENI" stand-in and a macvlan on it, a fresh pod netns, and a scratch tree holding the state
/// directory (`dataDir`), a fake sysfs, an empty CNI_PATH, a regular file and a directory.
///
/// Node netns:
///
///     eth0  (veth, peer eth0p)  02:fa:00:00:00:01  192.0.2.10/24, default via 192.0.2.1   <- the primary interface
///     eni0  (veth, peer eni0p)  02:fa:00:00:00:02  up                                      <- ipvlan master / device
///     mv0   (macvlan on eni0p)  02:fa:00:00:00:03  up                                      <- host-device
///
/// Every path and MAC is fixed per fixture, so a case table can name them with placeholders (`@DATA@` …).
final class FaultsNode {
    static let eth0MAC = "02:fa:00:00:00:01"
    static let eni0MAC = "02:fa:00:00:00:02"
    static let mv0MAC = "02:fa:00:00:00:03"
    /// A loopback port nothing listens on: any AWS endpoint a case might reach is refused at once, and nothing
    /// ever leaves the node netns's loopback.
    static let closedEndpoint = "http://127.0.0.1:1"

    let node: TestNetns
    let pod: TestNetns
    let scratch: String
    var dataDir: String { scratch + "/state" }
    var sys: String { scratch + "/sys" }
    var cniPath: String { scratch + "/cni" }
    var regularFile: String { scratch + "/regular-file" }
    var directory: String { scratch + "/a-directory" }

    init() throws {
        var made: [() -> Void] = []
        var ok = false
        defer { if !ok { made.reversed().forEach { $0() } } }
        let n = try TestNetns(prefix: "emtfn")
        made.append { n.delete() }
        let p = try TestNetns(prefix: "emtfp")
        made.append { p.delete() }
        node = n
        pod = p
        try n.ip("link", "add", "eth0", "address", Self.eth0MAC, "type", "veth", "peer", "name", "eth0p")
        try n.ip("link", "add", "eni0", "address", Self.eni0MAC, "type", "veth", "peer", "name", "eni0p")
        try n.ip("link", "add", "link", "eni0p", "name", "mv0", "address", Self.mv0MAC, "type", "macvlan", "mode", "bridge")
        for l in ["eth0", "eth0p", "eni0", "eni0p", "mv0"] { try n.ip("link", "set", l, "up") }
        try n.ip("addr", "add", "192.0.2.10/24", "dev", "eth0")
        try n.ip("route", "add", "default", "via", "192.0.2.1", "dev", "eth0")

        let s = try makeTempDir("emt-faults")
        made.append { _ = Shell.run(["rm", "-rf", s]) }
        scratch = s
        let fm = FileManager.default
        try fm.createDirectory(atPath: s + "/state", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: s + "/cni", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: s + "/a-directory", withIntermediateDirectories: true)
        try "not a namespace\n".write(toFile: s + "/regular-file", atomically: false, encoding: .utf8)
        // A fake sysfs: 06.0 has no netdev, 07.0 has two, 08.0 is the primary interface's device.
        let devs = s + "/sys/bus/pci/devices"
        try fm.createDirectory(atPath: devs + "/0000:00:06.0/net", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: devs + "/0000:00:07.0/net/eni0", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: devs + "/0000:00:07.0/net/mv0", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: devs + "/0000:00:08.0/net/eth0", withIntermediateDirectories: true)
        ok = true
    }

    func close() {
        pod.delete()
        node.delete()
        _ = Shell.run(["rm", "-rf", scratch])
    }

    /// Replaces the fixture's placeholders in a case's text.
    func expand(_ s: String) -> String {
        guard s.contains("@") else { return s }
        return s.replacingOccurrences(of: "@DATA@", with: dataDir)
            .replacingOccurrences(of: "@POD@", with: pod.path)
            .replacingOccurrences(of: "@FILE@", with: regularFile)
            .replacingOccurrences(of: "@DIR@", with: directory)
            .replacingOccurrences(of: "@SCRATCH@", with: scratch)
    }

    /// The CNI environment of a case: complete and valid, then the case's overrides (nil removes a variable).
    /// The node agent's socket is pinned to a path where nothing listens (an `eni` network's EC2 step fails at
    /// once, and a real agent on this machine is never reached).
    func variables(_ verb: String, _ overrides: [String: String?]) -> [String: String] {
        var v = ["CNI_COMMAND": verb, "CNI_CONTAINERID": "hostile1", "CNI_NETNS": pod.path, "CNI_IFNAME": "net1",
                 "CNI_PATH": cniPath, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                 "ENI_MULTUS_AGENT_SOCKET": scratch + "/no-agent.sock"]
        for (k, val) in overrides {
            v[k] = val.map(expand)
        }
        return v
    }

    /// Runs the plugin core in-process inside the node netns; `configure` may adjust the environment (tests that
    /// `@testable import` the core replace EC2 there).
    func run(_ verb: String, stdin: [UInt8], env overrides: [String: String?] = [:],
             configure: (inout PluginEnvironment) -> Void = { _ in }) throws -> PluginOutput {
        var env = PluginEnvironment(
            variables: variables(verb, overrides), stdin: stdin, monotonicNanos: { 0 }, wallClock: { 1_700_000_000 },
            random: { 0x5eed_0000_f417 }, paths: .init(sys: sys, dataDir: dataDir))
        configure(&env)
        let ns = try NetNS(path: node.path)
        return try ns.run { Plugin.run(env) }
    }

    /// Links, addresses, routes and rules of both netns, and every file under the scratch tree (state dir
    /// included) with type, mode, owner, size and content.
    /// `relaxed`: without lock files, round-robin cursors and empty directories (what a rolled-back ADD leaves).
    func snapshot(relaxed: Bool = false) throws -> String {
        let files = relaxed
            ? treeSnapshotWithoutEmptyDirs(scratch) { $0.hasSuffix("/lock") || $0.contains("last_reserved_ip") }
            : treeSnapshot(scratch)
        // IPv6 link-local addresses and their routes are left out: the kernel adds them on its own, a moment
        // after a link comes up.
        return "== node\n" + (try node.snapshot()) + "== pod\n" + (try pod.snapshot())
            + "== files\n" + files
    }
}

/// A deterministic text picture of a directory tree: one line per entry (relative path, type, mode, owner, size,
/// content as hex for files up to 4 KiB, else a hash; symlink targets).
func treeSnapshot(_ root: String, ignoring: (String) -> Bool = { _ in false }) -> String {
    var lines: [String] = []
    func walk(_ rel: String) {
        let path = rel.isEmpty ? root : root + "/" + rel
        var st = stat()
        guard lstat(path, &st) == 0 else { lines.append("\(rel.isEmpty ? "." : rel) lstat-failed errno=\(errno)"); return }
        let name = rel.isEmpty ? "." : rel
        let mode = String(st.st_mode & 0o7777, radix: 8)
        let owner = "\(st.st_uid):\(st.st_gid)"
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if !rel.isEmpty && ignoring(rel) { return }
            lines.append("\(name) dir \(mode) \(owner)")
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            for n in names { walk(rel.isEmpty ? n : rel + "/" + n) }
        case S_IFREG:
            if ignoring(rel) { return }
            let data = FileManager.default.contents(atPath: path) ?? Data()
            let content = data.count <= 4096
                ? data.map { String(format: "%02x", $0) }.joined()
                : "fnv1a=" + String(data.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }, radix: 16)
            lines.append("\(name) file \(mode) \(owner) size=\(st.st_size) \(content)")
        case S_IFLNK:
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            lines.append("\(name) symlink -> \(target)")
        default:
            lines.append("\(name) other \(mode) \(owner)")
        }
    }
    walk("")
    return lines.joined(separator: "\n") + "\n"
}

/// The first differing lines of two snapshots, for a readable failure.
func snapshotDiff(_ a: String, _ b: String) -> String {
    let x = a.split(separator: "\n", omittingEmptySubsequences: false)
    let y = b.split(separator: "\n", omittingEmptySubsequences: false)
    let removed = x.filter { !y.contains($0) }.prefix(10).map { "- " + $0 }
    let added = y.filter { !x.contains($0) }.prefix(10).map { "+ " + $0 }
    return (removed + added).joined(separator: "\n")
}
