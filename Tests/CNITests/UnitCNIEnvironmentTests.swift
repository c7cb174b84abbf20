import CNI
import Testing

@Suite struct UnitCNIEnvironmentTests {
    static func env(_ command: String, _ overrides: [String: String?] = [:]) -> [String: String] {
        var e = [
            "CNI_COMMAND": command, "CNI_CONTAINERID": "abc123", "CNI_NETNS": "/var/run/netns/p",
            "CNI_IFNAME": "net1", "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "",
        ]
        for (k, v) in overrides { e[k] = v }
        return e
    }

    static func error(_ command: CNICommand, _ overrides: [String: String?]) -> CNIError? {
        cniError { _ = try CNIEnvironment(env(command.rawValue, overrides), command: command) }
    }

    @Test("CNI_COMMAND: each verb", arguments: CNICommand.allCases)
    func commandParses(cmd: CNICommand) throws {
        #expect(try CNIEnvironment.command(from: ["CNI_COMMAND": cmd.rawValue]) == cmd)
    }

    @Test("CNI_COMMAND missing or empty: no command (the about text)")
    func commandAbsent() throws {
        #expect(try CNIEnvironment.command(from: [:]) == nil)
        #expect(try CNIEnvironment.command(from: ["CNI_COMMAND": ""]) == nil)
    }

    @Test("CNI_COMMAND unknown: code 4 naming it", arguments: ["add", "Add", "ADD ", " DEL", "FOO", "VERSIONS", "DELETE", "0"])
    func commandUnknown(text: String) {
        let e = cniError { _ = try CNIEnvironment.command(from: ["CNI_COMMAND": text]) }
        #expect(e?.code == 4)
        #expect(e?.msg.contains("\"\(text)\"") == true)
    }

    @Test("a complete environment is accepted for every verb", arguments: CNICommand.allCases)
    func completeEnvironment(cmd: CNICommand) throws {
        let e = try CNIEnvironment(Self.env(cmd.rawValue), command: cmd)
        #expect(e.command == cmd)
        #expect(e.containerID == "abc123")
        #expect(e.ifname == "net1")
        #expect(e.netns == "/var/run/netns/p")
        #expect(e.path == ["/opt/cni/bin"])
        #expect(e.raw["CNI_PATH"] == "/opt/cni/bin")
    }

    @Test("CNI_PATH is split on ':' with empty entries dropped")
    func pathSplit() throws {
        let e = try CNIEnvironment(Self.env("ADD", ["CNI_PATH": "/opt/cni/bin::/usr/lib/cni:"]), command: .add)
        #expect(e.path == ["/opt/cni/bin", "/usr/lib/cni"])
    }

    @Test("valid container ids",
          arguments: ["a", "0", "abc-DEF_1.2", String(repeating: "f", count: 64), "a..", "a-", "Z_"])
    func containerIDValid(id: String) {
        #expect(cniError { try CNIEnvironment.validateContainerID(id) } == nil)
        #expect(Self.error(.add, ["CNI_CONTAINERID": id]) == nil)
    }

    @Test("invalid container ids: code 4 naming the id",
          arguments: ["-a", "_a", ".a", "a b", "a/b", "a:b", "ä", "a\n", "a;b", "a\u{0}", "../x", " a"])
    func containerIDInvalid(id: String) {
        for cmd in [CNICommand.add, .del, .check] {
            let e = Self.error(cmd, ["CNI_CONTAINERID": id])
            #expect(e?.code == 4)
            #expect(e?.msg.contains("CNI_CONTAINERID") == true)
        }
    }

    @Test("CNI_CONTAINERID is required for ADD, DEL and CHECK, not for STATUS, GC, VERSION")
    func containerIDRequired() {
        for cmd in [CNICommand.add, .del, .check] {
            for v in [nil, ""] as [String?] {
                let e = Self.error(cmd, ["CNI_CONTAINERID": v])
                #expect(e?.code == 4)
                #expect(e?.msg == "CNI_CONTAINERID is required for \(cmd.rawValue)")
            }
        }
        for cmd in [CNICommand.status, .gc, .version] {
            #expect(Self.error(cmd, ["CNI_CONTAINERID": nil, "CNI_IFNAME": nil, "CNI_NETNS": nil]) == nil)
        }
    }

    @Test("valid interface names", arguments: ["net1", "eth0.100", "a", "...", String(repeating: "x", count: 15),
                                               "ens6-v", "a.b_c-d", "éééé"])
    func ifnameValid(name: String) {
        #expect(cniError { try CNIEnvironment.validateInterfaceName(name) } == nil)
        #expect(Self.error(.add, ["CNI_IFNAME": name]) == nil)
    }

    @Test("invalid interface names: code 4",
          arguments: [
              (String(repeating: "x", count: 16), "1 to 15 bytes"), (".", "\".\" and \"..\""), ("..", "\".\" and \"..\""),
              ("a/b", "'/'"), ("a:b", "':'"), ("a b", "whitespace"), ("a\tb", "whitespace"), ("a\nb", "whitespace"),
              ("a\rb", "whitespace"), ("a\u{0B}b", "whitespace"), ("a\u{0}b", "NUL"),
              (String(repeating: "é", count: 8), "1 to 15 bytes"), ("/", "'/'"),
          ])
    func ifnameInvalid(name: String, reason: String) {
        for cmd in [CNICommand.add, .del, .check] {
            let e = Self.error(cmd, ["CNI_IFNAME": name])
            #expect(e?.code == 4)
            #expect(e?.msg.contains("CNI_IFNAME") == true)
            #expect(e?.msg.contains(reason) == true, "\(e?.msg ?? "nil")")
        }
    }

    @Test("CNI_IFNAME is required for ADD, DEL and CHECK", arguments: [CNICommand.add, .del, .check])
    func ifnameRequired(cmd: CNICommand) {
        for v in [nil, ""] as [String?] {
            let e = Self.error(cmd, ["CNI_IFNAME": v])
            #expect(e?.code == 4)
            #expect(e?.msg == "CNI_IFNAME is required for \(cmd.rawValue)")
        }
    }

    @Test("CNI_NETNS is required for ADD and CHECK, optional for DEL, STATUS, GC")
    func netnsRequired() {
        for cmd in [CNICommand.add, .check] {
            for v in [nil, ""] as [String?] {
                let e = Self.error(cmd, ["CNI_NETNS": v])
                #expect(e?.code == 4)
                #expect(e?.msg == "CNI_NETNS is required for \(cmd.rawValue)")
            }
        }
        for cmd in [CNICommand.del, .status, .gc, .version] {
            #expect(Self.error(cmd, ["CNI_NETNS": nil]) == nil)
            #expect(Self.error(cmd, ["CNI_NETNS": ""]) == nil)
        }
    }

    @Test("CNI_PATH is required except for VERSION", arguments: CNICommand.allCases)
    func pathRequired(cmd: CNICommand) {
        let e = Self.error(cmd, ["CNI_PATH": nil])
        if cmd == .version {
            #expect(e == nil)
        } else {
            #expect(e?.code == 4)
            #expect(e?.msg == "CNI_PATH is required for \(cmd.rawValue)")
        }
    }

    @Test("CNI_ARGS is parsed for ADD, DEL and CHECK", arguments: [CNICommand.add, .del, .check])
    func argsParsed(cmd: CNICommand) throws {
        let ok = try CNIEnvironment(Self.env(cmd.rawValue, ["CNI_ARGS": "K8S_POD_NAME=p;IP=10.0.0.5"]), command: cmd)
        #expect(ok.args["K8S_POD_NAME"] == "p")
        #expect(ok.args.ips.map(\.description) == ["10.0.0.5"])
        let e = Self.error(cmd, ["CNI_ARGS": "FOO=bar"])
        #expect(e?.code == 4)
        #expect(e?.msg.contains("\"FOO\"") == true)
        let none = try CNIEnvironment(Self.env(cmd.rawValue, ["CNI_ARGS": nil]), command: cmd)
        #expect(none.args.pairs.isEmpty)
    }

    @Test("config-field names reuse the interface-name check with their own label")
    func variableLabel() {
        let e = cniError { try CNIEnvironment.validateInterfaceName("a/b", variable: "master") }
        #expect(e?.code == 4)
        #expect(e?.msg.hasPrefix("master \"a/b\"") == true)
    }
}
