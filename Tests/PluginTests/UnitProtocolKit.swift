#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import Platform
import CNI
import ENIMultusCore
import IPAM
import JSON

/// Helpers for the in-process protocol tests (UnitProtocol*): build a PluginEnvironment, run the core, read the
/// wire error back.
enum UnitProtocolKit {
    static let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    static let about = "CNI eni-multus plugin version 0.1.0\nCNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n"
    static let versionOutput = #"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"# + "\n"
    /// A data directory that must never be created (runs that should not touch the disk use it).
    static let untouchedDataDir = "/nonexistent/eni-multus-unit-protocol"
    static let goneNetns = "/var/run/netns/eni-multus-unit-protocol-gone"

    static func tempDir() -> String {
        var template = Array("/tmp/emt-unitproto.XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("mkdtemp: errno \(errno)") }
        return String(cString: p)
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// A complete environment for `command`; `overrides` set (or, with nil, remove) variables.
    static func vars(_ command: String, _ overrides: [String: String?] = [:]) -> [String: String] {
        var v = ["CNI_COMMAND": command, "CNI_CONTAINERID": "ctr1", "CNI_NETNS": goneNetns, "CNI_IFNAME": "net1",
                 "CNI_PATH": "/nonexistent/cni/bin", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        for (k, val) in overrides { v[k] = val }
        return v
    }

    static func environment(_ variables: [String: String], stdin: [UInt8], dataDir: String = untouchedDataDir,
                            monotonic: @escaping @Sendable () -> UInt64 = { 42 }) -> PluginEnvironment {
        PluginEnvironment(variables: variables, stdin: stdin, monotonicNanos: monotonic,
                          wallClock: { 1_700_000_000.5 }, random: { 0x0123_4567_89ab_cdef },
                          paths: .init(procSys: "/nonexistent/proc/sys", sys: "/nonexistent/sys", dataDir: dataDir))
    }

    static func run(_ command: String, _ stdin: String, _ overrides: [String: String?] = [:],
                    dataDir: String = untouchedDataDir) -> PluginOutput {
        Plugin.run(environment(vars(command, overrides), stdin: Array(stdin.utf8), dataDir: dataDir))
    }

    /// A network config: `version` nil omits cniVersion, `name` nil omits name; `extra` is appended as members.
    static func conf(_ version: String?, name: String? = "net1", _ extra: String = "") -> String {
        var members: [String] = []
        if let version { members.append(#""cniVersion":\#(JSON.string(version).serialized())"#) }
        if let name { members.append(#""name":\#(JSON.string(name).serialized())"#) }
        members.append(#""type":"eni-multus""#)
        if !extra.isEmpty { members.append(extra) }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// The built-in IPAM on `dataDir` with one /24 (or the given ranges).
    static func ipam(_ dataDir: String, subnet: String = "10.99.0.0/24") -> String {
        #""ipam":{"type":"eni-multus","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(subnet)"}]]}"#
    }

    struct WireError: Equatable {
        var cniVersion: String?
        var code: Int?
        var msg: String?
        var details: String?
        var keys: [String]
    }

    /// The error object printed on stdout (and the checks every error output must pass).
    static func wireError(_ out: PluginOutput, sourceLocation: SourceLocation = #_sourceLocation) -> WireError? {
        #expect(out.exitCode != 0, "an error must exit non-zero", sourceLocation: sourceLocation)
        #expect(out.stdout.hasSuffix("}\n"), "error output ends with a newline", sourceLocation: sourceLocation)
        #expect(out.stderr.hasPrefix("eni-multus: "), "stderr names the plugin: \(out.stderr)", sourceLocation: sourceLocation)
        guard let j = try? JSON.parse(out.stdout), let o = j.objectValue else {
            Issue.record("stdout is not a JSON object: \(out.stdout.prefix(300))", sourceLocation: sourceLocation)
            return nil
        }
        let e = WireError(cniVersion: o["cniVersion"]?.stringValue, code: o["code"]?.int64Value.map { Int($0) },
                          msg: o["msg"]?.stringValue, details: o["details"]?.stringValue, keys: o.keys)
        #expect(e.cniVersion.map { supported.contains($0) } == true, "error cniVersion \(e.cniVersion ?? "nil")",
                sourceLocation: sourceLocation)
        #expect(e.msg.map { !$0.isEmpty } == true, sourceLocation: sourceLocation)
        #expect(out.stderr.contains(e.msg ?? "\u{0}"), "stderr repeats msg", sourceLocation: sourceLocation)
        return e
    }

    /// Expects exit 0 with exactly this output.
    static func expectOutput(_ out: PluginOutput, stdout: String, stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(out.exitCode == 0, sourceLocation: sourceLocation)
        #expect(out.stdout == stdout, sourceLocation: sourceLocation)
        #expect(out.stderr == stderr, sourceLocation: sourceLocation)
    }

    /// Expects a clean success without output (DEL, CHECK, STATUS, GC).
    static func expectQuietSuccess(_ out: PluginOutput, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(out.exitCode == 0, "exit \(out.exitCode): \(out.stdout) \(out.stderr)", sourceLocation: sourceLocation)
        #expect(out.stdout == "", sourceLocation: sourceLocation)
        #expect(out.stderr == "", sourceLocation: sourceLocation)
    }

    static func allocator(_ dataDir: String, network: String = "net1", subnet: String = "10.99.0.0/24") throws -> RangeAllocator {
        let j = try JSON.parse(#"{"type":"eni-multus","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(subnet)"}]]}"#)
        return RangeAllocator(config: try IPAMConfig(j.objectValue!), network: network)
    }

    static func ipFiles(_ dataDir: String, network: String = "net1") -> [String] {
        ((try? FileIO.list("\(dataDir)/\(network)/ips")) ?? []).sorted()
    }

    /// Writes an executable shell script (a fake delegated IPAM plugin).
    static func script(_ path: String, _ body: String) throws {
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }
}

/// A monotonic clock that advances 1.234567 ms per reading.
final class UnitProtocolTicker: Sendable {
    let now = Mutex<UInt64>(0)
    func next() -> UInt64 { now.withLock { $0 += 1_234_567; return $0 } }
}
