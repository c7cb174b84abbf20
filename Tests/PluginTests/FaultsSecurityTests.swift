#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import AgentProtocol
@testable import ENIMultusCore
import JSON
import NetTypes
import Netlink
import TestSupport
import NodeState

/// state and log files are root-only, credentials never reach any output, and the IAM policy
/// lets nothing modify an ENI without our tags.
@Suite(.tier(), .serialized)
struct FaultsSecurityTests {
    static let eniID = "eni-0123456789abcdef0"

    /// A FakeEC2Gateway (in memory, Tests/PluginTests/UnitEC2RegistrationTests.swift) holding the multus ENI whose MAC
    /// is the fixture's `mv0`.
    static func gateway() -> FakeEC2Gateway {
        let r = FakeEC2Gateway()
        r.add(ENIDescription(id: "eni-primary", subnetID: "subnet-a", deviceIndex: 0, tags: [:], ipv4: [], ipv6: []),
              mac: FaultsNode.eth0MAC)
        r.add(ENIDescription(id: eniID, subnetID: "subnet-b", deviceIndex: 1,
                        tags: [NodeTags.noManage: "true", NodeTags.cluster: "faults"],
                        ipv4: [], ipv6: []),
              mac: FaultsNode.mv0MAC)
        return r
    }

    /// `root` and every entry under it whose mode is not 0700 (directories) or 0600 (files), or whose owner is
    /// not root.
    static func looseModes(_ root: String) -> [String] {
        treeSnapshot(root).split(separator: "\n").compactMap { line -> String? in
            let p = line.split(separator: " ")
            guard p.count >= 4 else { return String(line) }
            let want = p[1] == "dir" ? "700" : p[1] == "file" ? "600" : "-"
            return p[2] == want && p[3] == "0:0" ? nil : String(line.prefix(200))
        }
    }

    /// Runs `body` with the process umask at 0, so every mode seen is the one the plugin asked for.
    static func withUmask0<R>(_ body: () throws -> R) rethrows -> R {
        let old = umask(0)
        defer { umask(old) }
        return try body()
    }

    @Test("after ADD (built-in IPAM, EC2 ledger) and a DEL that had to queue its release, every state file is 0600 and every directory 0700")
    func stateIsRootOnly() throws {
        let f = try FaultsNode()
        defer { f.close() }
        let fm = FileManager.default
        try fm.createDirectory(atPath: f.scratch + "/logs", withIntermediateDirectories: true)
        // The state directory does not exist yet: the plugin creates it and its parents.
        let conf = f.expand(HostileCases.json(HostileCases.with(HostileCases.hdBase, [
            "eni": ["id": Self.eniID], "clusterName": "faults", "ipam>dataDir": "@DATA@/var/lib/eni-multus",
            "logFile": "@SCRATCH@/logs/plugin.log", "logLevel": "debug"])))
        nonisolated(unsafe) let reg = Self.gateway()
        let configure: (inout PluginEnvironment) -> Void = { env in env.gatewayFactory = { _ in reg } }
        let cniArgs = "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_UID=u1"

        let add = try Self.withUmask0 {
            try f.run("ADD", stdin: Array(conf.utf8), env: ["CNI_ARGS": cniArgs], configure: configure)
        }
        #expect(add.exitCode == 0, "\(add.stdout)")
        let state = f.dataDir + "/var/lib/eni-multus/fnet"
        for p in ["lock", "attachments/hostile1:net1", "ips/10.66.0.2", "last_reserved_ip.0", "links/hostile1:net1",
                  "ec2/lock", "ec2/ledger/hostile1:net1"] {
            #expect(fm.fileExists(atPath: state + "/" + p), "missing \(p)")
        }
        #expect(reg.enis[Self.eniID]?.ipv4 == [IPAddress("10.66.0.2")!])
        #expect(Self.looseModes(f.dataDir + "/var") == [], "after ADD")
        #expect(Self.looseModes(f.scratch + "/logs/plugin.log") == [], "log after ADD")

        // EC2 fails during DEL: the release is queued durably (a file under ec2/queue/).
        reg.failNext["unassign4"] = 100
        let del = try Self.withUmask0 {
            try f.run("DEL", stdin: Array(conf.utf8), env: ["CNI_ARGS": cniArgs], configure: configure)
        }
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(((try? fm.contentsOfDirectory(atPath: state + "/ec2/queue")) ?? []).count == 1)
        #expect(Self.looseModes(f.dataDir + "/var") == [], "after a queued DEL")
        #expect(Self.looseModes(f.scratch + "/logs/plugin.log") == [], "log after DEL")
        let log = try String(contentsOfFile: f.scratch + "/logs/plugin.log", encoding: .utf8)
        #expect(log.contains("\"verb\":\"ADD\"") && log.contains("queued"), "\(log)")
        print("faults/security: \(treeSnapshot(f.dataDir + "/var").split(separator: "\n").count) state entries "
              + "and 1 log file checked: all root-only (dirs 0700, files 0600)")
    }

    // MARK: credentials

    static let accessKey = "AKIAFAULTSLEAKCHECK1"
    static let secret = "faultsSECRETkey/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE"
    static let token = "FQoGZXIvYXdzEFAULTS-SESSION-TOKEN-d6b2c4e8a0f1"

    /// ADD on a network with an `eni` block, through a node agent (in the node netns) whose AWS is pointed at
    /// `endpoint` with recognisable credentials in its environment, a debug log; returns the plugin's outputs and
    /// its log text followed by the agent's log (both are checked for secrets).
    static func addWithSecrets(_ f: FaultsNode, endpoint: String, binary: Bool = false) throws -> (PluginOutput, String) {
        let logs = f.scratch + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let logPath = logs + "/plugin-\(UInt32.random(in: 0...UInt32.max)).log"
        let conf = f.expand(HostileCases.json(HostileCases.with(HostileCases.hdBase, [
            "eni": ["id": eniID], "ec2TimeoutSeconds": 3, "logFile": logPath, "logLevel": "debug"])))
        let agent = try NodeAgentProcess(environment: [
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint, "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_EC2": endpoint,
            "AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token,
            "AWS_MAX_ATTEMPTS": "2"], netns: f.node.path)
        defer { agent.stop() }
        let aws: [String: String?] = [NodeAgentProcess.socketVariable: agent.socket]
        let out: PluginOutput
        if binary {
            let env = f.variables("ADD", aws)
            let r = f.node.exec([pluginBinary], stdin: Array(conf.utf8), env: env, timeout: 60)
            out = PluginOutput(stdout: r.stdout, stderr: r.stderr, exitCode: r.status)
        } else {
            out = try f.run("ADD", stdin: Array(conf.utf8), env: aws)
        }
        // The log is part of what is checked for secrets: it must exist and say something (logLevel debug).
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        try #require(!log.isEmpty, "the plugin wrote nothing to \(logPath)")
        return (out, log + "\n" + agent.log())
    }

    static func expectNoSecret(_ out: PluginOutput, _ log: String, _ what: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, s) in [("secret access key", secret), ("session token", token)] {
            for (where_, text) in [("stdout", out.stdout), ("stderr", out.stderr), ("log", log)] {
                #expect(!text.contains(s), "\(what): the \(name) appears in \(where_): \(text.prefix(600))",
                        sourceLocation: sourceLocation)
            }
            // Nor a recognisable half of it (a truncated echo).
            let half = String(s.prefix(s.count / 2))
            #expect(!(out.stdout + out.stderr + log).contains(half), "\(what): half of the \(name) leaked",
                    sourceLocation: sourceLocation)
        }
    }

    @Test("an ADD whose EC2 part fails (closed loopback port) prints and logs no credential")
    func noCredentialsWhenEC2IsUnreachable() throws {
        let f = try FaultsNode()
        defer { f.close() }
        for binary in [false, true] {
            let (out, log) = try Self.addWithSecrets(f, endpoint: FaultsNode.closedEndpoint, binary: binary)
            #expect(out.exitCode != 0)
            let e = try #require(try JSON.parse(out.stdout).objectValue, "\(out.stdout)")
            // IMDS unreachable after its retries: transient, try again later (11).
            #expect(e["code"]?.int64Value == 11, "\(out.stdout)")
            #expect(e["msg"]?.stringValue?.contains("IMDS") == true)
            #expect(log.contains("\"outcome\":\"error\""), "the failure is logged: \(log)")
            Self.expectNoSecret(out, log, binary ? "binary" : "in-process")
        }
    }

    @Test("an EC2 endpoint that echoes the credentials back is scrubbed everywhere",
          arguments: HostileAWSServer.Mode.allCases)
    func noCredentialsWhenEC2EchoesThem(_ mode: HostileAWSServer.Mode) throws {
        let f = try FaultsNode()
        defer { f.close() }
        let server = try HostileAWSServer(in: f.node, mode: mode, secret: Self.secret)
        defer { server.stop() }
        for binary in [false, true] {
            let (out, log) = try Self.addWithSecrets(f, endpoint: server.url, binary: binary)
            #expect(out.exitCode != 0, "\(out.stdout)")
            #expect(server.sawToken(Self.token), "the server must have been sent the session token to echo it")
            let e = try #require(try JSON.parse(out.stdout).objectValue, "\(out.stdout)")
            #expect(e["code"]?.int64Value == mode.expectedCode, "\(out.stdout)")
            #expect(log.contains("\"outcome\":\"error\""), "the failure is logged: \(log)")
            Self.expectNoSecret(out, log, "\(mode) \(binary ? "binary" : "in-process")")
        }
    }

    // MARK: IAM policy

    static var repo: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }

    @Test("install/iam-policy.json: every ENI mutation needs our cluster tag on the ENI; creation and tagging need our tags in the request")
    func iamPolicyIsScopedByTags() throws {
        let text = try String(contentsOfFile: Self.repo + "/install/iam-policy.json", encoding: .utf8)
        let policy = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let statements = try #require(policy["Statement"] as? [[String: Any]])
        #expect(!statements.isEmpty)
        let problems = IAMPolicyCheck.problems(statements, cluster: { ($0 as? String) == "CLUSTER_NAME" })
        #expect(problems == [], "\(problems.joined(separator: "\n"))")
        print("faults/security: install/iam-policy.json: \(statements.count) statements checked, \(problems.count) problems")
    }

    static let hasPyYAML = Shell.run(["python3", "-c", "import yaml"], timeout: 30).status == 0

    /// Skipped (by the tier mechanism, so test.sh counts it) without python3's yaml module; in CI it must run.
    @Test("install/nodegroup.yaml: the node role's inline policy passes the same IAM rules (cluster name through Ref)",
          .enabled(if: hasPyYAML || Capabilities.isCI, "python3 yaml (PyYAML) is not installed"))
    func nodegroupPolicyIsScopedByTags() throws {
        let out = try Shell.check(["python3", "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            Self.repo + "/install/nodegroup.yaml"], timeout: 60)
        let t = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let role = try #require((t["Resources"] as? [String: Any])?["NodeRole"] as? [String: Any])
        let pols = try #require((role["Properties"] as? [String: Any])?["Policies"] as? [[String: Any]])
        let inline = try #require((pols.first?["PolicyDocument"] as? [String: Any])?["Statement"] as? [[String: Any]])
        let cfn = IAMPolicyCheck.problems(inline.map(IAMPolicyCheck.resolvingCloudFormation),
                                          cluster: { ($0 as? [String: Any])?["Ref"] as? String == "ClusterName" })
        #expect(!inline.isEmpty)
        #expect(cfn == [], "\(cfn.joined(separator: "\n"))")
    }
}

/// The IAM rules the node role must follow, over a policy's statements.
enum IAMPolicyCheck {
    /// ENI actions that change an ENI or its addresses.
    static let mutating = [
        "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:AssignIpv6Addresses",
        "ec2:UnassignIpv6Addresses", "ec2:AssignIpv4Prefixes"/* not used yet: covered if ever granted */,
        "ec2:UnassignIpv4Prefixes", "ec2:AssignIpv6Prefixes"/* idem */, "ec2:UnassignIpv6Prefixes",
        "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteNetworkInterface", "ec2:AttachNetworkInterface",
        "ec2:DetachNetworkInterface", "ec2:ResetNetworkInterfaceAttribute", "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterfacePermission",
    ]
    static let eniARN = "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0123456789abcdef0"
    static let clusterKeys = ["aws:ResourceTag/eni-multus.io/cluster", "ec2:ResourceTag/eni-multus.io/cluster"]

    /// `*` and `?` globs, as IAM matches actions (case-insensitively) and resources.
    static func glob(_ pattern: String, _ s: String, caseInsensitive: Bool = false) -> Bool {
        let p = Array(caseInsensitive ? pattern.lowercased() : pattern), t = Array(caseInsensitive ? s.lowercased() : s)
        func m(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            if p[i] == "*" { return (j...t.count).contains { m(i + 1, $0) } }
            return j < t.count && (p[i] == "?" || p[i] == t[j]) && m(i + 1, j + 1)
        }
        return m(0, 0)
    }

    static func list(_ v: Any?) -> [String] { (v as? String).map { [$0] } ?? (v as? [String]) ?? [] }

    /// Every rule broken, as readable lines (empty: the policy is fine). `cluster` recognises the cluster value
    /// (`"CLUSTER_NAME"` in the file, `{"Ref": "ClusterName"}` in CloudFormation).
    static func problems(_ statements: [[String: Any]], cluster: (Any?) -> Bool) -> [String] {
        var out: [String] = []
        var grantedOnENI = Set<String>()
        for (n, s) in statements.enumerated() {
            let sid = "statement \(n) (\(s["Sid"] as? String ?? "no Sid"))"
            if s["NotAction"] != nil || s["NotResource"] != nil || s["NotPrincipal"] != nil {
                out.append("\(sid): NotAction/NotResource/NotPrincipal grant more than they name")
            }
            guard (s["Effect"] as? String) == "Allow" else { continue }
            let actions = list(s["Action"]), resources = list(s["Resource"])
            let cond = s["Condition"] as? [String: Any] ?? [:]
            let eq = cond["StringEquals"] as? [String: Any] ?? [:]
            func covers(_ a: String) -> Bool { actions.contains { glob($0, a, caseInsensitive: true) } }
            let onENI = resources.contains { glob($0, eniARN) }
            let ec2Writes = actions.filter {
                let a = $0.split(separator: ":").map(String.init)
                return a.first?.lowercased() == "ec2"
                    && !["Describe", "Get", "List"].contains { (a.last ?? "").hasPrefix($0) }
            }
            if resources.contains("*") && !ec2Writes.isEmpty {
                out.append("\(sid): Resource \"*\" with EC2 actions that are not read-only: \(ec2Writes)")
            }
            for a in mutating where covers(a) {
                guard onENI else { continue }  // e.g. Attach on instance/*: the ENI side still needs its own grant
                if clusterKeys.contains(where: { cluster(eq[$0]) }) {
                    grantedOnENI.insert(a)
                } else {
                    out.append("\(sid): \(a) on network interfaces without StringEquals \(clusterKeys[0]) = <cluster>")
                }
            }
            if covers("ec2:CreateNetworkInterface") && onENI {
                if !cluster(eq["aws:RequestTag/eni-multus.io/cluster"]) || (eq["aws:RequestTag/node.k8s.amazonaws.com/no_manage"] as? String) != "true" {
                    out.append("\(sid): CreateNetworkInterface without aws:RequestTag/eni-multus.io/cluster and aws:RequestTag/node.k8s.amazonaws.com/no_manage=true")
                }
            }
            if covers("ec2:CreateTags") {
                if resources.contains(where: { $0 == "*" || !glob($0, eniARN) }) {
                    out.append("\(sid): CreateTags on resources other than network interfaces: \(resources)")
                }
                if (eq["ec2:CreateAction"] as? String) != "CreateNetworkInterface" {
                    out.append("\(sid): CreateTags without ec2:CreateAction = CreateNetworkInterface (it could retag existing ENIs)")
                }
                if !cluster(eq["aws:RequestTag/eni-multus.io/cluster"]) {
                    out.append("\(sid): CreateTags without aws:RequestTag/eni-multus.io/cluster = <cluster>")
                }
            }
            if covers("ec2:DeleteTags") { out.append("\(sid): DeleteTags could strip no_manage or the cluster tag") }
            for op in cond.keys where op.hasSuffix("IfExists") {
                out.append("\(sid): \(op) lets requests without the key through")
            }
        }
        // The ENI mutations the plugin and the agent call are granted somewhere (with the condition).
        for a in ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:AssignIpv6Addresses",
                  "ec2:UnassignIpv6Addresses", "ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface",
                  "ec2:DeleteNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"] where !grantedOnENI.contains(a) {
            out.append("\(a) is not granted on network interfaces at all")
        }
        return out
    }

    /// A CloudFormation statement with `Fn::Sub` resources turned into plain ARNs.
    static func resolvingCloudFormation(_ s: [String: Any]) -> [String: Any] {
        var s = s
        func plain(_ r: Any) -> Any {
            if let d = r as? [String: Any], let sub = d["Fn::Sub"] as? String {
                return sub.replacingOccurrences(of: "${AWS::Partition}", with: "aws")
            }
            return r
        }
        if let r = s["Resource"] as? [Any] { s["Resource"] = r.map(plain).compactMap { $0 as? String } }
        else if let r = s["Resource"] { s["Resource"] = plain(r) }
        return s
    }
}

/// A hostile IMDS + EC2 on 127.0.0.1 inside a netns: IMDS answers truthfully for one ENI (the fixture's mv0),
/// EC2 answers every call with an error that echoes the session token, the secret key and the Authorization
/// header in the places a client might print: the message, the code, the request id (XML and header), a body
/// that is not XML, a 200 whose XML is broken.
final class HostileAWSServer: @unchecked Sendable {
    enum Mode: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case xmlMessage, xmlCode, requestIDElement, requestIDHeader, plainBody, brokenXML200
        var testDescription: String { rawValue }
        var expectedCode: Int64 { 106 }  // every mode is a non-retryable EC2 failure
    }

    let fd: Int32
    let port: UInt16
    let mode: Mode
    let secret: String
    private let seen = Mutex<[String]>([])
    private let stopped = Mutex(false)
    var url: String { "http://127.0.0.1:\(port)" }

    init(in ns: TestNetns, mode: Mode, secret: String) throws {
        self.mode = mode
        self.secret = secret
        let netns = try NetNS(path: ns.path)
        let s: Int32 = try netns.run {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard s >= 0 else { throw HarnessError("socket: errno \(errno)") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            let b = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard b == 0, listen(s, 16) == 0 else { close(s); throw HarnessError("bind/listen: errno \(errno)") }
            return s
        }
        fd = s
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in self.serve() }
        t.start()
    }

    func stop() {
        stopped.withLock { $0 = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Whether any request carried this session token (so the echo test is not vacuous).
    func sawToken(_ token: String) -> Bool { seen.withLock { $0.contains { $0.contains(token) } } }

    private func serve() {
        while !stopped.withLock({ $0 }) {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue } else { return } }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var buf = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            buf += chunk[0..<n]
            if headerEnd == nil, let r = buf.firstRange(of: Array("\r\n\r\n".utf8)) {
                headerEnd = r.upperBound
                let head = String(decoding: buf[..<r.lowerBound], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let h = headerEnd, buf.count >= h + contentLength { break }
        }
        let text = String(decoding: buf, as: UTF8.self)
        seen.withLock { $0.append(text) }
        let lines = text.components(separatedBy: "\r\n")
        let requestLine = lines.first?.split(separator: " ") ?? []
        let method = requestLine.first.map(String.init) ?? "", path = requestLine.dropFirst().first.map(String.init) ?? ""
        func header(_ name: String) -> String {
            lines.first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        let mac = FaultsNode.mv0MAC
        let imds: [String: String] = [
            "/latest/meta-data/network/interfaces/macs/": "\(mac)/\n",
            "/latest/meta-data/network/interfaces/macs/\(mac)/interface-id": FaultsSecurityTests.eniID,
            "/latest/meta-data/network/interfaces/macs/\(mac)/device-number": "1",
            "/latest/meta-data/network/interfaces/macs/\(mac)/subnet-id": "subnet-0faults",
        ]
        var status = 200, body = "", extra: [String] = []
        if method == "PUT" && path == "/latest/api/token" {
            body = "hostile-imds-token"
            extra = ["X-aws-ec2-metadata-token-ttl-seconds: 21600"]
        } else if method == "GET" && path.hasPrefix("/latest/") {
            if let v = imds[path] { body = v } else { status = 404; body = "Not Found" }
        } else {
            // EC2: echo what a careless or malicious endpoint could.
            let token = header("X-Amz-Security-Token"), auth = header("Authorization")
            let echo = "token=\(token) secret=\(secret) authorization=\(auth)"
            status = 403
            switch mode {
            case .xmlMessage:
                body = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>denied: \(echo)</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
            case .xmlCode:
                body = "<Response><Errors><Error><Code>\(token)\(secret)</Code><Message>x</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
            case .requestIDElement:
                body = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>denied</Message></Error></Errors><RequestID>\(token) \(secret)</RequestID></Response>"
            case .requestIDHeader:
                status = 400
                body = "not xml"
                extra = ["x-amzn-RequestId: \(token)\(secret)"]
            case .plainBody:
                status = 400
                body = echo
            case .brokenXML200:
                status = 200
                body = "<DescribeNetworkInterfacesResponse><networkInterfaceSet><item>\(echo)</oops>"
            }
        }
        let reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 400 ? "Bad Request" : "Forbidden"
        let response = (["HTTP/1.1 \(status) \(reason)", "Content-Length: \(body.utf8.count)", "Connection: close"] + extra)
            .joined(separator: "\r\n") + "\r\n\r\n" + body
        let bytes = Array(response.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(c, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
    }
}
