import CNI
import NetTypes
import Testing

@Suite struct UnitCNIArgsTests {
    static let multus =
        "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=id;K8S_POD_UID=u;"
        + "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=id;K8S_POD_UID=u"

    @Test("Multus-style duplicate keys are accepted; values are kept")
    func multusDuplicates() throws {
        let a = try CNIArgs(parsing: Self.multus)
        #expect(a.ignoreUnknown)
        #expect(a.pairs.count == 10)
        #expect(a["K8S_POD_NAMESPACE"] == "ns")
        #expect(a["K8S_POD_NAME"] == "p")
        #expect(a["K8S_POD_INFRA_CONTAINER_ID"] == "id")
        #expect(a["K8S_POD_UID"] == "u")
        #expect(a["IgnoreUnknown"] == "1")
        #expect(a.ips.isEmpty)
        #expect(a.mac == nil)
    }

    @Test("Multus with the runtime's string plus an unknown runtime key and IP/MAC")
    func multusWithUnknownAndIP() throws {
        let text = "IgnoreUnknown=true;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=;K8S_POD_UID=;"
            + "IP=10.0.0.5/24,fd00::5/64;MAC=0a:1b:2c:3d:4e:5f;IgnoreUnknown=1;SOME_RUNTIME_KEY=x"
        let a = try CNIArgs(parsing: text)
        #expect(a.ignoreUnknown)
        #expect(a["K8S_POD_NAME"] == "")
        #expect(a["SOME_RUNTIME_KEY"] == "x")
        #expect(a.ips.map(\.description) == ["10.0.0.5/24", "fd00::5/64"])
        #expect(a.mac?.description == "0a:1b:2c:3d:4e:5f")
    }

    @Test("a later duplicate wins")
    func laterDuplicateWins() throws {
        let a = try CNIArgs(parsing: "K8S_POD_NAME=first;K8S_POD_NAME=second")
        #expect(a["K8S_POD_NAME"] == "second")
        let b = try CNIArgs(parsing: "IP=10.0.0.5;IP=10.0.0.6")
        #expect(b.ips.map(\.description) == ["10.0.0.6"])
    }

    @Test("IgnoreUnknown values that ignore unknown keys", arguments: ["1", "true", "TRUE", "True", "tRuE"])
    func ignoreUnknownOn(value: String) throws {
        let a = try CNIArgs(parsing: "IgnoreUnknown=\(value);FOO=bar")
        #expect(a.ignoreUnknown)
        #expect(a["FOO"] == "bar")
        // Also when IgnoreUnknown comes after the unknown key.
        let b = try CNIArgs(parsing: "FOO=bar;IgnoreUnknown=\(value)")
        #expect(b.ignoreUnknown)
    }

    @Test("IgnoreUnknown values that do not", arguments: ["0", "false", "FALSE", "yes", "", "2", " 1"])
    func ignoreUnknownOff(value: String) {
        let e = cniError { _ = try CNIArgs(parsing: "IgnoreUnknown=\(value);FOO=bar") }
        #expect(e?.code == 4)
        #expect(e?.msg.contains("\"FOO\"") == true)
        // With only known keys the value does not matter.
        #expect(cniError { _ = try CNIArgs(parsing: "IgnoreUnknown=\(value);K8S_POD_NAME=p") } == nil)
    }

    @Test("an unknown key without IgnoreUnknown is code 4 naming the key",
          arguments: ["FOO=bar", "K8S_POD_NAME=p;BAR=1", "k8s_pod_name=p", "IGNOREUNKNOWN=1;X=y"])
    func unknownKey(text: String) {
        let e = cniError { _ = try CNIArgs(parsing: text) }
        #expect(e?.code == 4)
        let key = text.split(separator: ";").map { String($0.split(separator: "=")[0]) }
            .first { !CNIArgs.knownKeys.contains($0) }!
        #expect(e?.msg.contains("\"\(key)\"") == true, "\(e?.msg ?? "nil")")
        #expect(e?.msg.contains("IgnoreUnknown") == true)
        #expect(e?.details == "CNI_ARGS=\(text)")
    }

    @Test("pairs are split on the bytes ';' and '=', as libcni does, even before a combining mark")
    func splitOnBytes() throws {
        // ";" + U+0301 is one Character: a Character-level split read K8S_POD_NAME="p;\u{301}IP=10.0.0.5" (found
        // by the cniargs fuzz target; reproducer in Fuzz/crashes/cniargs).
        let a = try CNIArgs(parsing: "K8S_POD_NAME=p;\u{301}IP=10.0.0.5;IgnoreUnknown=1")
        #expect(a.pairs.map(\.key) == ["K8S_POD_NAME", "\u{301}IP", "IgnoreUnknown"])
        #expect(a["K8S_POD_NAME"] == "p")
        #expect(a.ips.isEmpty)
        let b = try CNIArgs(parsing: "K8S_POD_NAME=\u{301}=x;IgnoreUnknown=1")
        #expect(b.pairs.count == 2)
        #expect(b.pairs[0].value == "\u{301}=x")
        #expect(cniError { _ = try CNIArgs(parsing: "IP=10.0.0.5,\u{301}10.0.0.6") }?.code == 4)
    }

    @Test("empty values are kept as empty strings")
    func emptyValues() throws {
        let a = try CNIArgs(parsing: "K8S_POD_NAMESPACE=;K8S_POD_NAME=;IP=;MAC=")
        #expect(a.pairs.count == 4)
        #expect(a["K8S_POD_NAMESPACE"] == "")
        #expect(a["K8S_POD_NAME"] == "")
        #expect(a.ips.isEmpty)
        #expect(a.mac == nil)
    }

    @Test("a value may contain '='; split on the first one")
    func valueWithEquals() throws {
        let a = try CNIArgs(parsing: "K8S_POD_NAME=a=b=c")
        #expect(a["K8S_POD_NAME"] == "a=b=c")
    }

    @Test("empty string, stray separators")
    func emptyAndSeparators() throws {
        let e = try CNIArgs(parsing: "")
        #expect(e.pairs.isEmpty && !e.ignoreUnknown && e.ips.isEmpty && e.mac == nil)
        #expect(e == CNIArgs())
        let s = try CNIArgs(parsing: ";;K8S_POD_NAME=p;;")
        #expect(s.pairs.count == 1)
        #expect(s["K8S_POD_NAME"] == "p")
        #expect(s["K8S_POD_UID"] == nil)
    }

    @Test("an item without '=' or with an empty key is code 4",
          arguments: ["K8S_POD_NAME", "K8S_POD_NAME=p;IgnoreUnknown", "=value", "IgnoreUnknown=1;=x", "IgnoreUnknown=1;junk"])
    func malformedItem(text: String) {
        let e = cniError { _ = try CNIArgs(parsing: text) }
        #expect(e?.code == 4)
        #expect(e?.msg.hasPrefix("CNI_ARGS:") == true)
        #expect(e?.details == "CNI_ARGS=\(text)")
    }

    @Test("IP= values",
          arguments: [
              ("10.0.0.5/24,fd00::5/64", ["10.0.0.5/24", "fd00::5/64"], [24, 64] as [Int?]),
              ("10.0.0.5", ["10.0.0.5"], [nil]),
              ("fd00::5", ["fd00::5"], [nil]),
              ("10.0.0.5,10.0.1.6/25", ["10.0.0.5", "10.0.1.6/25"], [nil, 25]),
              ("10.0.0.5/32", ["10.0.0.5/32"], [32]),
              ("FD00:0:0::5/64", ["fd00::5/64"], [64]),
              ("10.0.0.5,", ["10.0.0.5"], [nil]),
          ])
    func ipValues(value: String, want: [String], lengths: [Int?]) throws {
        let a = try CNIArgs(parsing: "IP=\(value)")
        #expect(a.ips.map(\.description) == want)
        #expect(a.ips.map(\.prefixLength) == lengths)
    }

    @Test("the IP keeps its host bits (it is the address asked for, not the network)")
    func ipHostBits() throws {
        let a = try CNIArgs(parsing: "IP=10.0.0.5/24")
        #expect(a.ips.first?.address == IPAddress("10.0.0.5"))
        #expect(a.ips.first?.prefixLength == 24)
    }

    @Test("a bad IP is code 4 naming it",
          arguments: ["10.0.0.256", "10.0.0.5/33", "fd00::5/129", "abc", "10.0.0", "10.0.0.5/", "10.0.0.5/24/1",
                      "10.0.0.5/-1", "010.0.0.5", "10.0.0.5;", "fd00:::5"])
    func badIP(value: String) {
        let text = "IP=10.0.0.9,\(value)"
        guard !value.hasSuffix(";") else {
            // "10.0.0.5;" splits into IP=10.0.0.9,10.0.0.5 and an empty item: accepted.
            #expect(cniError { _ = try CNIArgs(parsing: text) } == nil)
            return
        }
        let e = cniError { _ = try CNIArgs(parsing: text) }
        #expect(e?.code == 4)
        #expect(e?.msg.contains("\"\(value)\"") == true, "\(e?.msg ?? "nil")")
    }

    @Test("MAC= valid", arguments: [
        ("0a:1b:2c:3d:4e:5f", "0a:1b:2c:3d:4e:5f"), ("0A:1B:2C:3D:4E:5F", "0a:1b:2c:3d:4e:5f"),
        ("0a-1b-2c-3d-4e-5f", "0a:1b:2c:3d:4e:5f"),
    ])
    func macValid(text: String, want: String) throws {
        let a = try CNIArgs(parsing: "MAC=\(text)")
        #expect(a.mac?.description == want)
    }

    @Test("MAC= invalid is code 4 naming it",
          arguments: ["0a:1b:2c:3d:4e", "0a:1b:2c:3d:4e:5f:60", "zz:1b:2c:3d:4e:5f", "0a1b2c3d4e5f", "0a:1b:2c:3d:4e:5",
                      "0a:1b-2c:3d:4e:5f", "0a:1b:2c:3d:4e:5f ", "+a:1b:2c:3d:4e:5f", "0a:1b:2c:3d:4e:+f"])
    func macInvalid(text: String) {
        let e = cniError { _ = try CNIArgs(parsing: "MAC=\(text)") }
        #expect(e?.code == 4, "MAC=\(text) must be refused")
        #expect(e?.msg.contains("\"\(text)\"") == true)
    }
}
