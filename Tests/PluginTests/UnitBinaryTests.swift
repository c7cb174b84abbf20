#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import IPAM
import JSON
import TestSupport
import NodeState

private typealias K = UnitProtocolKit

/// The *built binary* (not the in-process core) answers every error path with exit 1, a CNI error object on
/// stdout (cniVersion, code, msg, optional details; nothing else) and one line on stderr.
@Suite(.serialized) struct UnitBinaryErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let command: String?
        let env: [String: String?]
        let stdin: String
        let code: Int
        /// The cniVersion the error must carry.
        let version: String
        var testDescription: String { label }
    }

    static let goodIPAM = #""ipam":{"type":"eni-multus","dataDir":"/nonexistent/emt-review-unused","subnet":"10.97.0.0/24"}"#

    static let cases: [Case] = [
        // The command is validated before stdin is read: the error is in the newest version.
        Case(label: "unknown CNI_COMMAND", command: "FOO", env: [:], stdin: K.conf("1.0.0", #""master":"lo""#), code: 4, version: "1.1.0"),
        Case(label: "stdin not JSON", command: "ADD", env: [:], stdin: "{nope", code: 6, version: "1.1.0"),
        Case(label: "stdin JSON but not an object", command: "DEL", env: [:], stdin: "[1]", code: 6, version: "1.1.0"),
        Case(label: "missing cniVersion", command: "ADD", env: [:], stdin: K.conf(nil, #""master":"lo""#), code: 1, version: "1.1.0"),
        Case(label: "unsupported cniVersion 0.2.0", command: "DEL", env: [:], stdin: K.conf("0.2.0", #""master":"lo""#), code: 1, version: "1.1.0"),
        Case(label: "missing name", command: "ADD", env: [:], stdin: K.conf("0.4.0", name: nil, #""master":"lo""#), code: 7, version: "0.4.0"),
        Case(label: "name escaping dataDir", command: "ADD", env: [:], stdin: K.conf("1.0.0", name: "../etc", #""master":"lo""#), code: 7, version: "1.0.0"),
        Case(label: "CNI_IFNAME too long", command: "ADD", env: ["CNI_IFNAME": "0123456789abcdef"], stdin: K.conf("0.3.1", #""master":"lo""#), code: 4, version: "0.3.1"),
        Case(label: "CNI_CONTAINERID invalid", command: "DEL", env: ["CNI_CONTAINERID": "-bad"], stdin: K.conf("1.0.0", #""master":"lo""#), code: 4, version: "1.0.0"),
        Case(label: "CNI_NETNS missing on ADD", command: "ADD", env: ["CNI_NETNS": nil], stdin: K.conf("1.0.0", #""master":"lo""#), code: 4, version: "1.0.0"),
        Case(label: "CNI_PATH missing", command: "ADD", env: ["CNI_PATH": nil], stdin: K.conf("1.1.0", #""master":"lo""#), code: 4, version: "1.1.0"),
        Case(label: "CNI_ARGS unknown key", command: "ADD", env: ["CNI_ARGS": "FOO=1"], stdin: K.conf("1.0.0", #""master":"lo""#), code: 4, version: "1.0.0"),
        Case(label: "CHECK on 0.3.1", command: "CHECK", env: [:], stdin: K.conf("0.3.1", #""master":"lo""#), code: 1, version: "0.3.1"),
        Case(label: "STATUS on 1.0.0", command: "STATUS", env: [:], stdin: K.conf("1.0.0", #""master":"lo""#), code: 1, version: "1.0.0"),
        Case(label: "CHECK without prevResult", command: "CHECK", env: [:], stdin: K.conf("1.0.0", #""master":"lo""#), code: 7, version: "1.0.0"),
        Case(label: "wrong JSON type", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"lo","mtu":"big""#), code: 6, version: "1.0.0"),
        Case(label: "bad mode", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"lo","mode":"l9""#), code: 7, version: "1.0.0"),
        Case(label: "linkInContainer true", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"lo","linkInContainer":true"#), code: 2, version: "1.0.0"),
        Case(label: "requested MAC", command: "ADD", env: ["CNI_ARGS": "IgnoreUnknown=1;MAC=02:00:00:00:00:09"], stdin: K.conf("1.0.0", #""master":"lo","# + goodIPAM), code: 2, version: "1.0.0"),
        Case(label: "master missing", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"emtnope0","# + goodIPAM), code: 7, version: "1.0.0"),
        Case(label: "netns missing", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"lo","allowPrimary":true,"# + goodIPAM), code: 4, version: "1.0.0"),
        Case(label: "delegated IPAM missing", command: "ADD", env: [:], stdin: K.conf("1.0.0", #""master":"lo","ipam":{"type":"emt-nope-ipam"}"#), code: 104, version: "1.0.0"),
        Case(label: "STATUS missing master", command: "STATUS", env: [:], stdin: K.conf("1.1.0", #""master":"emtnope0""#), code: 50, version: "1.1.0"),
        Case(label: "GC with malformed valid-attachments", command: "GC", env: [:], stdin: K.conf("1.1.0", #""master":"lo","cni.dev/valid-attachments":5"#), code: 6, version: "1.1.0"),
    ]

    static func runBinary(_ command: String?, _ overrides: [String: String?], _ stdin: String) -> ShellResult {
        var env = K.vars(command ?? "", overrides)
        if command == nil { env["CNI_COMMAND"] = nil }
        return Shell.run([pluginBinary], stdin: Array(stdin.utf8), env: env, clearEnvironment: true, timeout: 30)
    }

    /// Every check an error printed by the binary must pass; returns the parsed object.
    static func expectWireError(_ r: ShellResult, code: Int, version: String,
                                sourceLocation: SourceLocation = #_sourceLocation) -> JSONObject? {
        #expect(r.status == 1, "exit status \(r.status); stdout \(r.stdout) stderr \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.hasSuffix("}\n"), sourceLocation: sourceLocation)
        guard let j = try? JSON.parse(r.stdout), let o = j.objectValue else {
            Issue.record("stdout is not a JSON object: \(r.stdout.prefix(300))", sourceLocation: sourceLocation)
            return nil
        }
        #expect(Set(o.keys).isSubset(of: ["cniVersion", "code", "msg", "details"]), "\(o.keys)", sourceLocation: sourceLocation)
        #expect(o["cniVersion"]?.stringValue == version, sourceLocation: sourceLocation)
        #expect(o["code"]?.int64Value == Int64(code), "\(r.stdout)", sourceLocation: sourceLocation)
        let msg = o["msg"]?.stringValue ?? ""
        #expect(!msg.isEmpty, sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("eni-multus: ") && r.stderr.contains(msg), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasSuffix("\n") && r.stderr.dropLast().contains("\n") == false, "one stderr line", sourceLocation: sourceLocation)
        return o
    }

    @Test("the binary prints a CNI error object and exits 1", arguments: cases)
    func binaryError(c: Case) throws {
        try #require(FileManager.default.isExecutableFile(atPath: pluginBinary), "no built binary at \(pluginBinary)")
        let r = Self.runBinary(c.command, c.env, c.stdin)
        _ = Self.expectWireError(r, code: c.code, version: c.version)
    }

    @Test("the binary: STATUS on an exhausted range is code 50; a delegated IPAM's code is passed through")
    func binaryIPAMErrors() throws {
        try #require(FileManager.default.isExecutableFile(atPath: pluginBinary))
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let a = try K.allocator(dir, subnet: "10.98.0.0/30")
        _ = try a.allocate(AttachmentKey(containerID: "c1", ifname: "net1"), requested: [])
        let st = Self.runBinary("STATUS", [:], K.conf("1.1.0", #""master":"lo","# + K.ipam(dir, subnet: "10.98.0.0/30")))
        let e = Self.expectWireError(st, code: 50, version: "1.1.0")
        #expect(e?["msg"]?.stringValue?.contains("exhausted") == true)

        try K.script("\(dir)/fakeipam", #"cat >/dev/null; echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"later"}'; exit 1"#)
        let del = Self.runBinary("DEL", ["CNI_PATH": dir, "CNI_NETNS": ""], K.conf("1.0.0", #""master":"lo","ipam":{"type":"fakeipam"}"#))
        let d = Self.expectWireError(del, code: 11, version: "1.0.0")
        #expect(d?["details"]?.stringValue == "later")

    }

    /// README: "Errors: … exit 1, and one line on stderr". A delegate that dies without a CNI error still gives a
    /// CNI error object (code 104) whose msg carries the delegate's stderr (its trailing newline dropped: msg and
    /// our stderr stay one line).
    @Test("the binary: a crashing delegate gives code 104 with a one-line msg and one stderr line")
    func binaryDelegateCrash() throws {
        try #require(FileManager.default.isExecutableFile(atPath: pluginBinary))
        let dir = K.tempDir()
        defer { K.remove(dir) }
        try K.script("\(dir)/crashipam", #"cat >/dev/null; echo 'segfault-ish' >&2; exit 3"#)
        let del = Self.runBinary("DEL", ["CNI_PATH": dir, "CNI_NETNS": ""], K.conf("1.0.0", #""master":"lo","ipam":{"type":"crashipam"}"#))
        let o = Self.expectWireError(del, code: 104, version: "1.0.0")
        #expect(o?["msg"]?.stringValue?.contains("\n") == false, "msg: \(o?["msg"]?.stringValue ?? "")")
        #expect(o?["msg"]?.stringValue?.hasSuffix("segfault-ish") == true, "msg: \(o?["msg"]?.stringValue ?? "")")
    }

    @Test("the binary: success paths exit 0 (about, VERSION, DEL, STATUS, GC)")
    func binarySuccess() throws {
        try #require(FileManager.default.isExecutableFile(atPath: pluginBinary))
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let about = Self.runBinary(nil, [:], "")
        #expect(about.status == 0 && about.stdout.isEmpty && about.stderr == K.about)
        let v = Self.runBinary("VERSION", [:], #"{"cniVersion":"1.0.0"}"#)
        #expect(v.status == 0 && v.stdout == K.versionOutput)
        for verb in ["DEL", "STATUS", "GC"] {
            let r = Self.runBinary(verb, ["CNI_NETNS": ""], K.conf("1.1.0", #""master":"lo","cni.dev/valid-attachments":[],"# + K.ipam(dir)))
            #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "\(verb): \(r)")
        }
    }
}

/// The plugin never echoes whole configs. A secret-looking value in fields the plugin does not own (top
/// level, ipam, runtimeConfig, args) must not appear on stdout, stderr or in the log, whatever the outcome.
@Suite(.serialized) struct UnitBinarySecretTests {
    static let secret = "AKIAREVIEWSECRET0123-wJalrXUtnFEMI/K7MDENG"
    static var secretFields: String {
        #""awsSecretAccessKey":"\#(secret)","kubeconfig":{"token":"\#(secret)"},"runtimeConfig":{"ips":[],"credentials":"\#(secret)"},"args":{"cni":{"ips":[],"password":"\#(secret)"},"k8s":{"token":"\#(secret)"}}"#
    }

    static func run(_ command: String, _ conf: String, dir: String, _ overrides: [String: String?] = [:]) -> PluginOutput {
        let ticker = UnitProtocolTicker()
        return Plugin.run(K.environment(K.vars(command, overrides), stdin: Array(conf.utf8), dataDir: dir,
                                        monotonic: { ticker.next() }))
    }

    static func expectNoSecret(_ out: PluginOutput, log: String, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!out.stdout.contains(secret) && !out.stdout.contains("REVIEWSECRET"), "\(label): stdout leaks: \(out.stdout)", sourceLocation: sourceLocation)
        #expect(!out.stderr.contains("REVIEWSECRET"), "\(label): stderr leaks: \(out.stderr)", sourceLocation: sourceLocation)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!text.contains("REVIEWSECRET"), "\(label): log leaks: \(text)", sourceLocation: sourceLocation)
    }

    @Test("no verb or error path echoes unknown fields, at any log level", arguments: ["debug", "info", "error"])
    func neverEchoed(level: String) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        let common = #""logFile":"\#(log)","logLevel":"\#(level)","# + Self.secretFields
        let ipamSecret = #""ipam":{"type":"eni-multus","dataDir":"\#(dir)","subnet":"10.96.0.0/24","apiKey":"\#(Self.secret)"}"#
        // Successes.
        let scenarios: [(String, String, [String: String?])] = [
            ("DEL", K.conf("1.0.0", #""master":"lo","# + common + "," + ipamSecret), ["CNI_NETNS": ""]),
            ("STATUS", K.conf("1.1.0", #""master":"lo","# + common + "," + ipamSecret), [:]),
            ("GC", K.conf("1.1.0", #""master":"lo","cni.dev/valid-attachments":[],"# + common + "," + ipamSecret), [:]),
            // Failures of every kind.
            ("ADD", K.conf("1.0.0", #""master":"emtnope0","# + common + "," + ipamSecret), [:]),
            ("ADD", K.conf("1.0.0", #""master":"lo","mode":"l9","# + common + "," + ipamSecret), [:]),
            ("ADD", K.conf("1.0.0", #""master":"lo","mtu":"x","# + common + "," + ipamSecret), [:]),
            ("ADD", K.conf("1.0.0", #""master":"lo","# + common + "," + ipamSecret), ["CNI_ARGS": "FOO=1"]),
            ("ADD", K.conf("1.0.0", #""master":"lo","# + common + #","ipam":{"type":"eni-multus","subnet":"10.96.0.0/33","apiKey":"\#(Self.secret)"}"#), [:]),
            ("ADD", K.conf("1.0.0", #""master":"lo","allowPrimary":true,"# + common + "," + ipamSecret), [:]),
            ("CHECK", K.conf("1.0.0", #""master":"lo","# + common + "," + ipamSecret), [:]),
            ("CHECK", K.conf("1.0.0", #""master":"lo","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"x"}]},"# + common + "," + ipamSecret), [:]),
            ("STATUS", K.conf("1.1.0", #""master":"emtnope0","# + common + "," + ipamSecret), [:]),
            ("DEL", K.conf("0.2.0", #""master":"lo","# + common), ["CNI_NETNS": ""]),
            ("ADD", K.conf("1.0.0", #""master":"lo","# + common + #","ipam":{"type":"emt-nope-ipam","apiKey":"\#(Self.secret)"}"#), [:]),
        ]
        for (verb, conf, env) in scenarios {
            let out = Self.run(verb, conf, dir: dir, env)
            Self.expectNoSecret(out, log: log, "\(verb) \(conf.prefix(60))")
        }
        // Malformed JSON right next to the secret.
        let broken = #"{"cniVersion":"1.0.0","name":"n","password":"\#(Self.secret)" "x":1}"#
        Self.expectNoSecret(Self.run("ADD", broken, dir: dir), log: log, "malformed JSON")
        // The log was written (so the checks above looked at something).
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= (level == "error" ? 5 : 8), "\(lines.count) lines")
    }

    @Test("every log line is a JSON object with verb, network, containerID, ifname, outcome and durationMs")
    func logFields() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        let conf = K.conf("1.0.0", #""master":"lo","logFile":"\#(log)","logLevel":"debug","# + K.ipam(dir))
        K.expectQuietSuccess(Self.run("DEL", conf, dir: dir, ["CNI_NETNS": "", "CNI_CONTAINERID": "c-del", "CNI_IFNAME": "eth7"]))
        _ = K.wireError(Self.run("ADD", K.conf("1.0.0", #""master":"emtnope0","logFile":"\#(log)","# + K.ipam(dir)), dir: dir,
                                 ["CNI_CONTAINERID": "c-add", "CNI_IFNAME": "eth8"]))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let want: [(String, String, String, String)] = [("DEL", "c-del", "eth7", "ok"), ("ADD", "c-add", "eth8", "error")]
        for (line, w) in zip(lines, want) {
            let o = try #require(try JSON.parse(String(line)).objectValue)
            #expect(o["verb"]?.stringValue == w.0)
            #expect(o["network"]?.stringValue == "net1")
            #expect(o["containerID"]?.stringValue == w.1)
            #expect(o["ifname"]?.stringValue == w.2)
            #expect(o["outcome"]?.stringValue == w.3)
            #expect(o["durationMs"]?.doubleValue.map { $0 > 0 } == true, "\(line)")
            #expect(o["time"] != nil && o["level"] != nil && o["msg"] != nil)
        }
    }
}
