#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CNI
import ENIMultusCore
import JSON
import Netlink
import Testing
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

/// Whether `ip` failed because the device does not exist: a real answer (no such link, so no addresses), unlike
/// any other failure (a netns that cannot be entered, unparsable output), which the readers below record as an
/// issue, so a comparison of two sides can never pass on two failed reads.
func isNoSuchDevice(_ error: any Error) -> Bool {
    guard let e = error as? ShellError else { return false }
    return e.stderr.contains("does not exist") || e.stderr.contains("Cannot find device")
}

/// One link as `ip -j -d link show` reports it; nil when there is no such link. Any other failure is an issue.
func linkInfo(_ ns: TestNetns?, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any]? {
    linkInfo(netnsName: ns?.name, name, sourceLocation: sourceLocation)
}

func linkInfo(netnsName ns: String?, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any]? {
    do {
        let all = try ipJSON(netns: ns, ["-d", "link", "show", "dev", name])
        if all.isEmpty { Issue.record("ip link show dev \(name) printed no link", sourceLocation: sourceLocation) }
        return all.first
    } catch {
        if !isNoSuchDevice(error) { Issue.record("reading link \(name) failed: \(error)", sourceLocation: sourceLocation) }
        return nil
    }
}

/// The global addresses of a link as "a/len", sorted; [] when there is no such link. Any other failure is an issue.
func addresses(_ ns: TestNetns?, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    addresses(netnsName: ns?.name, name, sourceLocation: sourceLocation)
}

func addresses(netnsName ns: String?, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    let links: [[String: Any]]
    do { links = try ipJSON(netns: ns, ["addr", "show", "dev", name]) } catch {
        if !isNoSuchDevice(error) { Issue.record("reading the addresses of \(name) failed: \(error)", sourceLocation: sourceLocation) }
        return []
    }
    guard let l = links.first, let infos = l["addr_info"] as? [[String: Any]] else {
        Issue.record("ip addr show dev \(name) printed no link with addr_info: \(links)", sourceLocation: sourceLocation)
        return []
    }
    return infos.compactMap { i in
        guard let a = i["local"] as? String, let p = i["prefixlen"] as? Int, (i["scope"] as? String) != "link" else { return nil }
        return "\(a)/\(p)"
    }.sorted()
}

/// The main table's routes of a family, sorted. A failed read is an issue (and gives []).
func routes(_ ns: TestNetns?, family: String = "-4", sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    routes(netnsName: ns?.name, family: family, sourceLocation: sourceLocation)
}

func routes(netnsName ns: String?, family: String = "-4", sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    do {
        return try ipJSON(netns: ns, [family, "route", "show"]).map { r in
            "\(r["dst"] as? String ?? "?") via \(r["gateway"] as? String ?? "-") dev \(r["dev"] as? String ?? "?")"
        }.sorted()
    } catch {
        Issue.record("reading the \(family) routes failed: \(error)", sourceLocation: sourceLocation)
        return []
    }
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

/// A packet capture (`ip netns exec … tcpdump -l …`) that is ready when `start` returns: tcpdump prints
/// "listening on …" to stderr once its socket is bound, and `start` waits for that line instead of sleeping and
/// hoping. stdout is collected for `finish`.
final class TcpdumpCapture: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private let lock = NSLock()
    private var errText = ""

    /// `arguments`: for /usr/sbin/ip, e.g. ["netns", "exec", NS, "timeout", "10", "tcpdump", "-l", …].
    init(arguments: [String]) {
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
    }

    /// Starts tcpdump and waits (up to `timeout` seconds) until it says it is listening; throws otherwise.
    func start(timeout: Double = 20) throws {
        try process.run()
        let handle = err.fileHandleForReading
        let reader = Thread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { return }
                lock.withLock { errText += String(decoding: d, as: UTF8.self) }
            }
        }
        reader.start()
        let ready = waitUntil(timeout: timeout, interval: 0.02) { [self] in lock.withLock { errText.contains("listening on") } }
        guard ready else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw HarnessError("tcpdump did not report listening within \(timeout) s: \(lock.withLock { errText })")
        }
    }

    /// Waits (bounded) for tcpdump to end, kills it if it does not, and returns what it printed on stdout.
    func finish(timeout: Double = 10) -> String {
        _ = waitUntil(timeout: timeout, interval: 0.1) { [self] in !process.isRunning }
        if process.isRunning { process.terminate(); _ = waitUntil(timeout: 1, interval: 0.05) { [self] in !process.isRunning } }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}
