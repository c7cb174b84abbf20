import Foundation
import Testing
import CNI
import ENIMultusCore
import JSON

private typealias K = UnitProtocolKit

/// The wire protocol of `Plugin.run`, in-process: VERSION, the about text, stdin decoding, version gating,
/// environment errors, and the shape of error output.
@Suite struct UnitProtocolTests {
    // MARK: VERSION and about

    @Test("VERSION prints the exact version object")
    func version() {
        let out = Plugin.run(K.environment(["CNI_COMMAND": "VERSION"], stdin: []))
        K.expectOutput(out, stdout: K.versionOutput, stderr: "")
    }

    @Test("the constant VERSION text (main.swift prints it directly) is the JSON built from the supported versions")
    func versionConstant() {
        #expect(Plugin.versionText.description == Plugin.versionJSON())
        #expect(Plugin.versionText.description == K.versionOutput)
    }

    @Test("VERSION as podman sends it: dummy env and {\"cniVersion\":\"1.0.0\"} on stdin")
    func versionPodman() {
        let vars = ["CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "dummy", "CNI_NETNS": "dummy", "CNI_IFNAME": "dummy",
                    "CNI_PATH": "dummy"]
        let out = Plugin.run(K.environment(vars, stdin: Array(#"{"cniVersion":"1.0.0"}"#.utf8)))
        K.expectOutput(out, stdout: K.versionOutput, stderr: "")
    }

    @Test("VERSION ignores stdin and the rest of the environment",
          arguments: ["", "garbage", #"{"cniVersion":"0.1.0"}"#, #"{"cniVersion":"9.9.9","name":"../x"}"#, "{", "[]"])
    func versionIgnoresInput(stdin: String) {
        let out = K.run("VERSION", stdin, ["CNI_CONTAINERID": "-bad id", "CNI_IFNAME": "a/b", "CNI_PATH": nil, "CNI_ARGS": "FOO"])
        K.expectOutput(out, stdout: K.versionOutput, stderr: "")
    }

    @Test("no CNI_COMMAND (absent or empty): the about text on stderr, nothing on stdout, exit 0",
          arguments: [nil, ""] as [String?])
    func about(command: String?) {
        var vars = K.vars("x", ["CNI_COMMAND": command])
        if command == nil { vars.removeValue(forKey: "CNI_COMMAND") }
        for stdin in ["", "garbage", K.conf("1.0.0")] {
            let out = Plugin.run(K.environment(vars, stdin: Array(stdin.utf8)))
            K.expectOutput(out, stdout: "", stderr: K.about)
        }
    }

    @Test("an unknown CNI_COMMAND is code 4 naming it", arguments: ["add", "Add", "ADD ", "DELETE", "FOO", "version", "status"])
    func unknownCommand(command: String) throws {
        let out = K.run(command, K.conf("1.0.0"))
        let e = try #require(K.wireError(out))
        #expect(e.code == 4)
        #expect(e.msg?.contains("\"\(command)\"") == true)
    }

    // MARK: stdin decoding

    static let verbs = ["ADD", "DEL", "CHECK", "STATUS", "GC"]

    static let badStdin: [String] = [
        "", " ", "not json", "{", #"{"cniVersion":"1.0.0","name":"n""#, #"{"cniVersion":"1.0.0","name":"n",}"#,
        #"{"cniVersion":"1.0.0"} x"#, "{'cniVersion':'1.0.0'}", #"{"cniVersion":NaN}"#, "\u{FEFF}{}", "// c\n{}",
        #"{"cniVersion":"1.0.0","name":"n"}{"#, #"{"a":01}"#,
    ]

    @Test("stdin that is not JSON is code 6 for every verb", arguments: verbs, badStdin)
    func notJSON(verb: String, stdin: String) throws {
        let out = K.run(verb, stdin)
        let e = try #require(K.wireError(out))
        #expect(e.code == 6)
        #expect(e.msg?.hasPrefix("the network config on stdin is not valid JSON: invalid JSON at byte ") == true, "\(e.msg ?? "")")
        #expect(e.cniVersion == "1.1.0")
        #expect(e.keys.starts(with: ["cniVersion", "code", "msg"]))
    }

    @Test("invalid UTF-8 on stdin is code 6", arguments: [[0xFF], [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], [0xC0, 0xAF]] as [[UInt8]])
    func invalidUTF8(bytes: [UInt8]) throws {
        let out = Plugin.run(K.environment(K.vars("ADD"), stdin: bytes))
        #expect(try #require(K.wireError(out)).code == 6)
    }

    @Test("10 MB of garbage on stdin: code 6, and the output does not echo the input")
    func hugeGarbage() throws {
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 10 << 20)
        bytes[0] = UInt8(ascii: "{")
        let out = Plugin.run(K.environment(K.vars("ADD"), stdin: bytes))
        let e = try #require(K.wireError(out))
        #expect(e.code == 6)
        #expect(out.stdout.utf8.count < 1024)
        #expect(out.stderr.utf8.count < 1024)
    }

    @Test("10 MB unterminated string and 1 MB of nesting: code 6 with short output")
    func hugeValidPrefix() throws {
        let long = #"{"cniVersion":"1.0.0","name":""# + String(repeating: "a", count: 10 << 20)
        let out = K.run("ADD", long)
        #expect(try #require(K.wireError(out)).code == 6)
        #expect(out.stdout.utf8.count < 1024)
        let deep = String(repeating: "[", count: 1 << 20)
        let out2 = K.run("DEL", deep)
        #expect(try #require(K.wireError(out2)).code == 6)
        #expect(out2.stdout.utf8.count < 1024)
    }

    @Test("a config that is JSON but not an object is code 6", arguments: ["[]", "5", "\"x\"", "null", "true"])
    func notAnObject(stdin: String) throws {
        let e = try #require(K.wireError(K.run("DEL", stdin, ["CNI_NETNS": ""])))
        #expect(e.code == 6)
        #expect(e.msg?.contains("must be a JSON object") == true)
    }

    // MARK: versions

    @Test("an unsupported cniVersion is code 1 with details naming both",
          arguments: ["0.1.0", "0.2.0", "2.0.0", "1.1", "garbage", "1.0.0 "])
    func unsupportedVersion(version: String) throws {
        for verb in Self.verbs {
            let e = try #require(K.wireError(K.run(verb, K.conf(version, #""master":"eth1""#))))
            #expect(e.code == 1, "\(verb)")
            #expect(e.msg?.contains("\"\(version)\"") == true)
            #expect(e.details == "config version \(version); plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0")
            #expect(e.cniVersion == "1.1.0")
        }
    }

    @Test("a missing or empty cniVersion is code 1 asking to add one", arguments: [nil, ""] as [String?])
    func missingVersion(version: String?) throws {
        for verb in Self.verbs {
            let e = try #require(K.wireError(K.run(verb, K.conf(version, #""master":"eth1""#))))
            #expect(e.code == 1)
            #expect(e.msg?.contains("add \"cniVersion\"") == true)
            #expect(e.details?.contains("0.1.0") == true)
        }
    }

    @Test("a non-string cniVersion is code 6", arguments: ["1", "1.0", "null", "[\"1.0.0\"]", "{}", "true"])
    func nonStringVersion(json: String) throws {
        let stdin = #"{"cniVersion":\#(json),"name":"net1","master":"eth1"}"#
        let e = try #require(K.wireError(K.run("ADD", stdin)))
        if json == "null" {
            // null is "no cniVersion".
            #expect(e.code == 1)
        } else {
            #expect(e.code == 6)
            #expect(e.msg?.hasPrefix("cniVersion must be a string") == true)
        }
    }

    @Test("CHECK needs 0.4.0 or newer", arguments: ["0.3.0", "0.3.1"])
    func checkGated(version: String) throws {
        let e = try #require(K.wireError(K.run("CHECK", K.conf(version, #""master":"eth1""#))))
        #expect(e.code == 1)
        #expect(e.msg == "CHECK needs cniVersion 0.4.0 or newer; the config says \(version)")
        #expect(e.cniVersion == version)
    }

    @Test("STATUS and GC need 1.1.0", arguments: ["STATUS", "GC"], ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
    func statusGCGated(verb: String, version: String) throws {
        let e = try #require(K.wireError(K.run(verb, K.conf(version, #""master":"eth1""#))))
        #expect(e.code == 1)
        #expect(e.msg == "\(verb) needs cniVersion 1.1.0 or newer; the config says \(version)")
        #expect(e.cniVersion == version)
    }

    // MARK: config errors

    @Test("a missing name is code 7 for every verb that reads the config", arguments: ["ADD", "DEL", "CHECK", "STATUS", "GC"])
    func missingName(verb: String) throws {
        let e = try #require(K.wireError(K.run(verb, K.conf("1.1.0", name: nil, #""master":"eth1""#))))
        #expect(e.code == 7)
        #expect(e.msg == "name is required in the network config")
        #expect(e.cniVersion == "1.1.0")
    }

    @Test("an invalid name is code 7 and nothing is created under the data directory",
          arguments: ["../x", "/abs", "a/b", ".hidden", ""])
    func badName(name: String) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        for verb in ["DEL", "GC"] {
            let e = try #require(K.wireError(K.run(verb, K.conf("1.1.0", name: name, K.ipam(dir)), ["CNI_NETNS": ""], dataDir: dir)))
            #expect(e.code == 7)
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["?"]).isEmpty)
    }

    @Test("linkInContainer: true is code 2")
    func linkInContainer() throws {
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"eth1","linkInContainer":true"#))))
        #expect(e.code == 2)
    }

    @Test("wrong JSON types are code 6 naming the field")
    func wrongTypes() throws {
        for (extra, field) in [(#""master":"eth1","mtu":"1500""#, "mtu"), (#""master":5"#, "master"),
                               (#""master":"eth1","ipam":[]"#, "ipam"),
                               (#""master":"eth1","runtimeConfig":{"ips":"x"}"#, "runtimeConfig.ips")] {
            let e = try #require(K.wireError(K.run("ADD", K.conf("0.4.0", extra))))
            #expect(e.code == 6)
            #expect(e.msg?.hasPrefix("\(field) must be") == true, "\(e.msg ?? "")")
            #expect(e.cniVersion == "0.4.0")
        }
    }

    // MARK: environment errors

    static let badEnv: [(String, [String: String?], String)] = [
        ("ADD", ["CNI_CONTAINERID": nil], "CNI_CONTAINERID is required for ADD"),
        ("ADD", ["CNI_CONTAINERID": "-x"], "CNI_CONTAINERID \"-x\" is invalid"),
        ("ADD", ["CNI_NETNS": nil], "CNI_NETNS is required for ADD"),
        ("ADD", ["CNI_NETNS": ""], "CNI_NETNS is required for ADD"),
        ("ADD", ["CNI_IFNAME": nil], "CNI_IFNAME is required for ADD"),
        ("ADD", ["CNI_IFNAME": "0123456789abcdef"], "CNI_IFNAME \"0123456789abcdef\" is invalid"),
        ("ADD", ["CNI_IFNAME": "a b"], "CNI_IFNAME \"a b\" is invalid"),
        ("ADD", ["CNI_PATH": nil], "CNI_PATH is required for ADD"),
        ("ADD", ["CNI_ARGS": "FOO=bar"], "CNI_ARGS: unknown key \"FOO\""),
        ("ADD", ["CNI_ARGS": "IgnoreUnknown=1;IP=10.0.0.300"], "CNI_ARGS: IP=\"10.0.0.300\""),
        ("ADD", ["CNI_ARGS": "IgnoreUnknown=1;MAC=xx"], "CNI_ARGS: MAC=\"xx\""),
        ("DEL", ["CNI_CONTAINERID": ""], "CNI_CONTAINERID is required for DEL"),
        ("DEL", ["CNI_CONTAINERID": "a/b"], "CNI_CONTAINERID \"a/b\" is invalid"),
        ("DEL", ["CNI_IFNAME": ".."], "CNI_IFNAME \"..\" is invalid"),
        ("DEL", ["CNI_IFNAME": "a:b"], "CNI_IFNAME \"a:b\" is invalid"),
        ("DEL", ["CNI_PATH": nil], "CNI_PATH is required for DEL"),
        ("DEL", ["CNI_ARGS": "K8S_POD_NAME"], "CNI_ARGS: \"K8S_POD_NAME\" is not of the form KEY=VALUE"),
        ("CHECK", ["CNI_NETNS": nil], "CNI_NETNS is required for CHECK"),
        ("CHECK", ["CNI_IFNAME": "a\tb"], "CNI_IFNAME \"a\tb\" is invalid"),
        ("CHECK", ["CNI_CONTAINERID": "a b"], "CNI_CONTAINERID \"a b\" is invalid"),
        ("CHECK", ["CNI_PATH": nil], "CNI_PATH is required for CHECK"),
        ("STATUS", ["CNI_PATH": nil], "CNI_PATH is required for STATUS"),
        ("GC", ["CNI_PATH": nil], "CNI_PATH is required for GC"),
    ]

    @Test("a bad environment is code 4 for each verb", arguments: badEnv)
    func badEnvironment(verb: String, overrides: [String: String?], msgPrefix: String) throws {
        let out = K.run(verb, K.conf("1.1.0", #""master":"eth1""#), overrides)
        let e = try #require(K.wireError(out))
        #expect(e.code == 4)
        #expect(e.msg?.hasPrefix(msgPrefix) == true, "\(e.msg ?? "")")
        #expect(e.cniVersion == "1.1.0")
    }

    @Test("STATUS and GC need neither CNI_CONTAINERID, CNI_NETNS nor CNI_IFNAME")
    func statusGCMinimalEnv() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        for verb in ["STATUS", "GC"] {
            let vars = ["CNI_COMMAND": verb, "CNI_PATH": "/nonexistent"]
            let out = Plugin.run(K.environment(vars, stdin: Array(K.conf("1.1.0", #""master":"lo","cni.dev/valid-attachments":[],"# + K.ipam(dir)).utf8),
                                               dataDir: dir))
            K.expectQuietSuccess(out)
        }
    }

    // MARK: error output

    @Test("the error's cniVersion is the config's", arguments: K.supported)
    func errorVersionIsConfigs(version: String) throws {
        // Config error (ADD without master).
        let e1 = try #require(K.wireError(K.run("ADD", K.conf(version))))
        #expect(e1.code == 7)
        #expect(e1.cniVersion == version)
        // Environment error: reported in the config's version too.
        let e2 = try #require(K.wireError(K.run("ADD", K.conf(version, #""master":"eth1""#), ["CNI_PATH": nil])))
        #expect(e2.code == 4)
        #expect(e2.cniVersion == version)
        // Decode error after the version was read.
        let e3 = try #require(K.wireError(K.run("DEL", K.conf(version, #""mtu":"x""#), ["CNI_NETNS": ""])))
        #expect(e3.code == 6)
        #expect(e3.cniVersion == version)
    }

    @Test("exact error text: indented like Go's MarshalIndent, newline-terminated; stderr carries msg and details")
    func exactErrorText() {
        let out = K.run("ADD", K.conf("1.0.0", name: nil))
        #expect(out.stdout == """
        {
            "cniVersion": "1.0.0",
            "code": 7,
            "msg": "name is required in the network config"
        }

        """)
        #expect(out.stderr == "eni-multus: name is required in the network config\n")
        #expect(out.exitCode == 1)
        let v = K.run("GC", K.conf("0.2.0"))
        #expect(v.stdout == """
        {
            "cniVersion": "1.1.0",
            "code": 1,
            "msg": "incompatible CNI versions: config is \\"0.2.0\\", plugin supports [0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0]",
            "details": "config version 0.2.0; plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
        }

        """)
        #expect(v.stderr == "eni-multus: incompatible CNI versions: config is \"0.2.0\", plugin supports [0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0] (config version 0.2.0; plugin supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)\n")
    }

    @Test("Multus CNI_ARGS (duplicates, IgnoreUnknown=true and =1, IP=a,b, MAC=) pass env validation on ADD")
    func multusArgsOnAdd() throws {
        let args = "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=id;K8S_POD_UID=u;"
            + "IP=10.0.0.5/24,fd00::5/64;MAC=0a:1b:2c:3d:4e:5f;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;OTHER=1"
        // The environment passes (not code 4); the parsed MAC= request is then refused (code 2, naming it), since
        // an ipvlan slave keeps its master's MAC. Without MAC= the unusable IPAM section is next (code 7).
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"lo","ipam":{"type":"eni-multus"}"#), ["CNI_ARGS": args])))
        #expect(e.code == 2)
        #expect(e.msg?.contains("0a:1b:2c:3d:4e:5f") == true)
        let noMAC = args.replacingOccurrences(of: "MAC=0a:1b:2c:3d:4e:5f;", with: "MAC=;")
        let e2 = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"lo","ipam":{"type":"eni-multus"}"#), ["CNI_ARGS": noMAC])))
        #expect(e2.code == 7)
        #expect(e2.msg?.hasPrefix("ipam needs") == true)
    }

    @Test("a duplicated cniVersion key: the last one counts, as in Go")
    func duplicateVersionKey() throws {
        let stdin = #"{"cniVersion":"1.0.0","name":"net1","master":"eth1","cniVersion":"0.3.1"}"#
        let e = try #require(K.wireError(K.run("CHECK", stdin)))
        #expect(e.code == 1)
        #expect(e.cniVersion == "0.3.1")
    }

    @Test("unknown top-level keys are tolerated by every verb", arguments: ["DEL", "GC", "STATUS"])
    func unknownKeysTolerated(verb: String) {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let extra = #""master":"lo","capabilities":{"ips":true},"runtimeConfig":{"bandwidth":{"ingressRate":1}},"futureField":[{"a":null}],"cni.dev/attachments":[],"cni.dev/valid-attachments":[],"# + K.ipam(dir)
        K.expectQuietSuccess(K.run(verb, K.conf("1.1.0", extra), ["CNI_NETNS": ""], dataDir: dir))
    }

    @Test("the same input gives the same output (no hidden state between runs)")
    func deterministic() {
        let a = K.run("ADD", K.conf("0.3.1", #""master":"eth1","mode":"l9""#))
        let b = K.run("ADD", K.conf("0.3.1", #""master":"eth1","mode":"l9""#))
        #expect(a == b)
        #expect(a.exitCode == 1)
    }
}
