import Foundation
import Testing
import AgentProtocol
@testable import ENIMultusCore
import JSON
import TestSupport

/// Every credential source of the chain (Sources/AWS/Credentials.swift), end to end: the plugin runs a real ADD and
/// DEL in-process against moto + the IMDS emulator + the fault proxy with SigV4 verification ON (botocore recomputes
/// every signature with the secret it knows for the access key), and the registration is asserted on moto's ENI.
///
/// The credential chain now runs in the node agent: each test starts its own agents (`NodeAgents`, one per
/// environment it uses, stopped at its end, so no test sees credentials another cached) with exactly the
/// environment built here: every credential variable of the other sources removed from `emu.environment` (which
/// sets the static test keys), plus the test's own. The plugin gets only the agent's socket.
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct HostEC2CredentialTests {
    static let emulator = Result { try EC2Emulator() }

    static let roleARN = "arn:aws:iam::123456789012:role/test"
    /// Every variable any credential source reads.
    static let credentialVariables = [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ]
    static let ec2Actions: Set<String> = [
        "DescribeNetworkInterfaces", "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses",
        "AssignIpv6Addresses", "UnassignIpv6Addresses",
    ]
}

/// One EC2World plus what a credential test needs: signature verification on, a log file, a directory for token
/// files, and runs whose environment holds exactly one credential source.
private struct CredWorld {
    let w: EC2World
    let tokenDir: String
    let log: String
    let sel: String

    /// This test's agents (credentials are cached per agent, so none is shared with another test).
    let agents = NodeAgents()

    init(noInstanceRole: Bool) throws {
        w = try EC2World(HostEC2CredentialTests.emulator)
        tokenDir = try makeTempDir("emt-cred")
        log = "\(w.h.dataDir)/plugin.log"
        sel = #"{"id":"\#(w.eni)"}"#
        // Without an instance role, a chain that fell through to IMDS could not sign anything.
        if noInstanceRole { try w.emu.imds(["role": NSNull()]) }
        try w.emu.sigv4(verify: true)
        try w.emu.resetCounts()
    }

    func close() {
        try? w.emu.sigv4(verify: false)
        agents.stopAll()
        _ = Shell.run(["rm", "-rf", tokenDir])
        w.close()
    }

    var conf: String { w.conf(sel, extra: #","logFile":"\#(log)","logLevel":"debug""#) }

    /// A file in the token directory (0600).
    func write(_ name: String, _ text: String) throws -> String {
        let p = "\(tokenDir)/\(name)"
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        chmod(p, 0o600)
        return p
    }

    /// `emu.environment` without any credential variable, plus `vars`.
    func environment(_ vars: [String: String]) -> [String: String] {
        var env = w.emu.environment
        for k in HostEC2CredentialTests.credentialVariables { env.removeValue(forKey: k) }
        return env.merging(vars) { _, b in b }
    }

    func run(_ verb: String, containerID: String = "ec2c1", _ vars: [String: String]) throws -> PluginOutput {
        let env = environment(vars)
        return try w.h.run(verb, conf: conf, containerID: containerID, netns: w.pod.path,
                           cniArgs: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_UID=u1",
                           extraVars: try agents.pluginVariables(for: env))
    }

    /// The EC2 requests (not STS) the proxy saw.
    func ec2Requests() throws -> [[String: Any]] {
        try w.emu.requests().filter { HostEC2CredentialTests.ec2Actions.contains($0["action"] as? String ?? "") }
    }

    /// ADD then DEL with `vars`; asserts both addresses land on the ENI and leave it, and that every EC2 request
    /// was signed (validly, as botocore recomputes it) with an access key `expectedKey` accepts. Returns outputs.
    func addAndDel(_ vars: [String: String], expectedKey: (String) -> Bool,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> [PluginOutput] {
        let add = try run("ADD", vars)
        #expect(add.exitCode == 0, "ADD: \(add.stdout) \(add.stderr)", sourceLocation: sourceLocation)
        guard add.exitCode == 0 else { return [add] }
        let r = try JSON.parse(add.stdout)
        let v4 = try #require(r["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        let v6 = try #require(r["ips"]?[1]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        let on = try w.addresses(of: w.eni)
        #expect(on.contains(v4) && on.contains(v6), "\(on)", sourceLocation: sourceLocation)
        #expect(try w.pod.snapshot().contains("net1"), sourceLocation: sourceLocation)

        let del = try run("DEL", vars)
        #expect(del.exitCode == 0, "DEL: \(del.stdout) \(del.stderr)", sourceLocation: sourceLocation)
        let after = try w.addresses(of: w.eni)
        #expect(!after.contains(v4) && !after.contains(v6), "\(after)", sourceLocation: sourceLocation)
        // The release really happened now (not queued for later).
        let queue = (try? FileManager.default.contentsOfDirectory(atPath: "\(w.h.dataDir)/ec2net/ec2/queue")) ?? []
        #expect(queue.isEmpty, "\(queue)", sourceLocation: sourceLocation)

        let reqs = try ec2Requests()
        let counts = Dictionary(reqs.map { ($0["action"] as? String ?? "", 1) }, uniquingKeysWith: +)
        #expect(counts["AssignPrivateIpAddresses"] == 1 && counts["AssignIpv6Addresses"] == 1
                    && counts["UnassignPrivateIpAddresses"] == 1 && counts["UnassignIpv6Addresses"] == 1,
                "\(counts)", sourceLocation: sourceLocation)
        for q in reqs {
            #expect(q["signature"] as? String == "valid", "\(q)", sourceLocation: sourceLocation)
            #expect(expectedKey(q["accessKeyId"] as? String ?? ""), "\(q)", sourceLocation: sourceLocation)
            #expect((q["status"] as? Int) == 200, "\(q)", sourceLocation: sourceLocation)
        }
        return [add, del]
    }

    /// None of `secrets` in stdout, stderr, the log file, or any state file.
    func expectNoLeak(_ outputs: [PluginOutput], _ secrets: [String],
                      sourceLocation: SourceLocation = #_sourceLocation) {
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!logText.isEmpty, "the log file was written", sourceLocation: sourceLocation)
        var texts = outputs.flatMap { [$0.stdout, $0.stderr] } + [logText]
        for f in w.h.stateFiles() {
            texts.append((try? String(contentsOfFile: "\(w.h.dataDir)/\(f)", encoding: .utf8)) ?? "")
        }
        for s in secrets where !s.isEmpty {
            let forms = Set([s, s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s])
            for t in texts {
                for form in forms {
                    #expect(!t.contains(form), "a secret (\(s.prefix(4))…) leaked", sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// The credentials moto's STS issued (from moto's /moto-api/data.json): access key id → (secret, session token).
    func stsIssued() throws -> [String: (secret: String, token: String)] {
        let r = try EC2Emulator.http("GET", w.emu.motoURL + "/moto-api/data.json")
        let d = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        let roles = ((d["sts"] as? [String: Any])?["AssumedRole"] as? [[String: Any]]) ?? []
        var out: [String: (secret: String, token: String)] = [:]
        for a in roles {
            guard let id = a["access_key_id"] as? String else { continue }
            out[id] = (a["secret_access_key"] as? String ?? "", a["session_token"] as? String ?? "")
        }
        return out
    }
}

extension HostEC2CredentialTests {
    // MARK: (1) environment

    @Test func environmentStaticKeysSignTheEC2Calls() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        // A long-term key with a secret only this test knows (registered with the signature checker).
        let akid = "AKIAENVTEST\(uniqueName(prefix: "", length: 9).uppercased())"
        let secret = "env-static-secret-\(UUID().uuidString)"
        try c.w.emu.sigv4(verify: true, credentials: [akid: secret])
        let out = try c.addAndDel(["AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret],
                                  expectedKey: { $0 == akid })
        #expect(try c.ec2Requests().allSatisfy { ($0["securityToken"] as? Bool) == false })
        #expect(try c.w.emu.requests(action: "AssumeRoleWithWebIdentity").isEmpty)
        c.expectNoLeak(out, [secret])
    }

    @Test func environmentKeysWithASessionToken() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let akid = "ASIAENVTEST\(uniqueName(prefix: "", length: 8).uppercased())"
        let secret = "env-secret-\(UUID().uuidString)"
        let token = "env-session-token-\(UUID().uuidString)"
        try c.w.emu.sigv4(verify: true, credentials: [akid: secret])
        let vars = ["AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token]
        let out = try c.addAndDel(vars, expectedKey: { $0 == akid })
        // The token travelled as X-Amz-Security-Token (and was signed: the signature verified).
        #expect(try c.ec2Requests().allSatisfy { ($0["securityToken"] as? Bool) == true })
        c.expectNoLeak(out, [secret, token])
    }

    // MARK: (2) web identity through STS (moto)

    @Test func webIdentityAssumesTheRoleThroughSTSAndSignsWithWhatItReturned() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let jwt = "eyJhbGciOiJSUzI1NiJ9.\(UUID().uuidString).web-identity-token-signature"
        let file = try c.write("token", jwt + "\n")
        let vars = ["AWS_WEB_IDENTITY_TOKEN_FILE": file, "AWS_ROLE_ARN": Self.roleARN,
                    "AWS_ROLE_SESSION_NAME": "eni-multus-test", "AWS_ENDPOINT_URL_STS": c.w.emu.ec2URL]
        let out = try c.addAndDel(vars, expectedKey: { $0.hasPrefix("ASIA") && !$0.hasPrefix("ASIAIMDS") })
        let issued = try c.stsIssued()
        let issuedKeys = Set(issued.keys)
        // One AssumeRoleWithWebIdentity for ADD and DEL together (the node agent keeps the role's credentials until
        // shortly before they expire), unsigned (as AWS allows), with our role and token.
        let sts = try c.w.emu.requests(action: "AssumeRoleWithWebIdentity")
        #expect(sts.count == 1, "\(sts.count)")
        for q in sts {
            let p = q["params"] as? [String: Any] ?? [:]
            #expect(p["RoleArn"] as? String == Self.roleARN)
            #expect(p["WebIdentityToken"] as? String == jwt, "the token is sent trimmed")
            #expect(p["RoleSessionName"] as? String == "eni-multus-test")
            #expect(p["Version"] as? String == "2011-06-15")
            #expect(q["signature"] as? String == "unsigned-allowed" && q["status"] as? Int == 200, "\(q)")
        }
        #expect(issued.count == 1)
        // Every EC2 call was signed with an access key STS issued, with its session token, and verified.
        let ec2 = try c.ec2Requests()
        #expect(!ec2.isEmpty)
        for q in ec2 {
            #expect(issuedKeys.contains(q["accessKeyId"] as? String ?? ""), "\(q)")
            #expect(q["securityToken"] as? Bool == true)
        }
        // Every EC2 call of both invocations comes after the STS call (seq order) and uses its key.
        let seqSTS = sts.compactMap { $0["seq"] as? Int }.sorted()
        #expect(seqSTS.count == 1 && ec2.allSatisfy { ($0["seq"] as? Int ?? 0) > seqSTS[0] })
        c.expectNoLeak(out, [jwt] + issued.values.flatMap { [$0.secret, $0.token] })
    }

    @Test func webIdentityRejectedBySTSFailsTheADDCleanly() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let jwt = "eyJhbGciOiJSUzI1NiJ9.\(UUID().uuidString).rejected"
        let file = try c.write("token", jwt)
        try c.w.emu.fault(action: "AssumeRoleWithWebIdentity", mode: "error", status: 400,
                          code: "InvalidIdentityToken", message: "Token \(jwt) is not valid")
        defer { try? c.w.emu.clearFaults() }
        let before = try c.w.emu.enis()
        let podBefore = try c.w.pod.snapshot()
        let add = try c.run("ADD", ["AWS_WEB_IDENTITY_TOKEN_FILE": file, "AWS_ROLE_ARN": Self.roleARN])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("InvalidIdentityToken") && add.stdout.contains("web identity"), "\(add.stdout)")
        #expect(try c.ec2Requests().filter { ($0["action"] as? String)?.hasPrefix("Assign") == true }.isEmpty)
        #expect(try c.w.emu.enis() == before)
        #expect(try c.w.pod.snapshot() == podBefore)
        #expect(c.w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") }.isEmpty,
                "\(c.w.h.stateFiles())")
        c.expectNoLeak([add], [jwt])
    }

    // MARK: (3) container credentials (EKS Pod Identity)

    /// The chain allows plain http only to loopback (127.0.0.0/8, ::1, localhost) and the ECS / Pod Identity
    /// link-local addresses; the emulator's endpoint is http://127.0.0.1:P/v1/credentials.
    @Test(arguments: ["file", "variable", "file-wins-over-variable"])
    func containerCredentialsFromThePodIdentityEndpoint(form: String) throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let auth = "pod-identity-auth-\(UUID().uuidString)"
        try c.w.emu.imds(["containerToken": auth])
        var vars = ["AWS_CONTAINER_CREDENTIALS_FULL_URI": c.w.emu.imdsURL + "/v1/credentials"]
        switch form {
        case "file": vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = try c.write("pod-identity-token", auth + "\n")
        case "variable": vars["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = auth
        default:
            vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = try c.write("pod-identity-token", auth)
            vars["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "stale-\(auth)"
        }
        let out = try c.addAndDel(vars, expectedKey: { $0 == "ASIAPODIDENTITYEMUL8" })
        #expect(try c.ec2Requests().allSatisfy { ($0["securityToken"] as? Bool) == true })
        c.expectNoLeak(out, [auth, "pod-identity-emulator-secret", "IQoJb3JpZ2luX2VjEPodIdentityEmulatorToken"])
    }

    @Test func containerCredentialsWithAWrongTokenFailTheADDCleanly() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        try c.w.emu.imds(["containerToken": "the-right-one-\(UUID().uuidString)"])
        let wrong = "wrong-pod-identity-token-\(UUID().uuidString)"
        let before = try c.w.emu.enis()
        let podBefore = try c.w.pod.snapshot()
        let add = try c.run("ADD", ["AWS_CONTAINER_CREDENTIALS_FULL_URI": c.w.emu.imdsURL + "/v1/credentials",
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": wrong])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("container credentials") && add.stdout.contains("401"), "\(add.stdout)")
        #expect(try c.ec2Requests().isEmpty, "nothing reached EC2 without credentials")
        #expect(try c.w.emu.enis() == before)
        #expect(try c.w.pod.snapshot() == podBefore)
        #expect(c.w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") }.isEmpty,
                "\(c.w.h.stateFiles())")
        c.expectNoLeak([add], [wrong])
    }

    @Test func containerCredentialsOverPlainHTTPToANonLoopbackHostAreRefused() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let token = "pod-identity-auth-\(UUID().uuidString)"
        // 192.0.2.1 (TEST-NET-1): never contacted, the chain refuses the URI first.
        let add = try c.run("ADD", ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/v1/credentials",
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": token])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("not allowed over http"), "\(add.stdout)")
        #expect(try c.ec2Requests().isEmpty)
        #expect(try c.w.pod.snapshot().contains("net1") == false)
        c.expectNoLeak([add], [token])
    }

    // MARK: (4) the instance role through IMDS

    @Test func instanceRoleThroughIMDSWhenNothingElseIsSet() throws {
        let c = try CredWorld(noInstanceRole: false)
        defer { c.close() }
        let akid = "ASIAIMDSROLE\(uniqueName(prefix: "", length: 8).uppercased())"
        let secret = "imds-role-secret-\(UUID().uuidString)"
        let token = "imds-role-token-\(UUID().uuidString)"
        try c.w.emu.imds(["role": "eni-multus-node",
                          "credentials": ["AccessKeyId": akid, "SecretAccessKey": secret, "Token": token]])
        let env = c.environment([:])
        #expect(Self.credentialVariables.allSatisfy { env[$0] == nil })
        let out = try c.addAndDel([:], expectedKey: { $0 == akid })
        #expect(try c.ec2Requests().allSatisfy { ($0["securityToken"] as? Bool) == true })
        #expect(try c.w.emu.requests(action: "AssumeRoleWithWebIdentity").isEmpty)
        c.expectNoLeak(out, [secret, token])
    }

    @Test func noSourceAtAllFailsWithoutTouchingEC2() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let add = try c.run("ADD", [:])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("no IAM role") || add.stdout.contains("none found"), "\(add.stdout)")
        #expect(try c.ec2Requests().isEmpty)
        #expect(try c.w.pod.snapshot().contains("net1") == false)
    }

    // MARK: precedence, failures, leaks

    @Test func environmentKeysWinOverWebIdentity() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let jwt = "eyJhbGciOiJSUzI1NiJ9.\(UUID().uuidString).unused"
        let file = try c.write("token", jwt)
        let vars = ["AWS_ACCESS_KEY_ID": EC2Emulator.accessKeyID, "AWS_SECRET_ACCESS_KEY": EC2Emulator.secretAccessKey,
                    "AWS_WEB_IDENTITY_TOKEN_FILE": file, "AWS_ROLE_ARN": Self.roleARN,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": c.w.emu.imdsURL + "/v1/credentials",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "emulator-pod-identity-token"]
        let out = try c.addAndDel(vars, expectedKey: { $0 == EC2Emulator.accessKeyID })
        #expect(try c.w.emu.requests(action: "AssumeRoleWithWebIdentity").isEmpty, "STS was not asked")
        #expect(try c.stsIssued().isEmpty)
        c.expectNoLeak(out, [jwt])
    }

    @Test func webIdentityWinsOverContainerCredentialsAndTheInstanceRole() throws {
        let c = try CredWorld(noInstanceRole: false)
        defer { c.close() }
        let file = try c.write("token", "eyJhbGciOiJSUzI1NiJ9.\(UUID().uuidString).x")
        let vars = ["AWS_WEB_IDENTITY_TOKEN_FILE": file, "AWS_ROLE_ARN": Self.roleARN,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": c.w.emu.imdsURL + "/v1/credentials",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "emulator-pod-identity-token"]
        _ = try c.addAndDel(vars, expectedKey: { $0.hasPrefix("ASIA") && !$0.hasPrefix("ASIAIMDS") && $0 != "ASIAPODIDENTITYEMUL8" })
        let issued = try c.stsIssued()
        #expect(try c.ec2Requests().allSatisfy { issued[$0["accessKeyId"] as? String ?? ""] != nil })
    }

    @Test func aWrongSecretFailsTheADDCleanly() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let wrong = "wrong-secret-\(UUID().uuidString)"
        let before = try c.w.emu.enis()
        let podBefore = try c.w.pod.snapshot()
        let add = try c.run("ADD", ["AWS_ACCESS_KEY_ID": EC2Emulator.accessKeyID, "AWS_SECRET_ACCESS_KEY": wrong])
        #expect(add.exitCode != 0)
        let e = try JSON.parse(add.stdout)
        // SignatureDoesNotMatch is a refusal, not a transient failure: 106, naming the AWS code.
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("SignatureDoesNotMatch"), "\(add.stdout)")
        let reqs = try c.ec2Requests()
        #expect(!reqs.isEmpty && reqs.allSatisfy { ($0["signature"] as? String)?.hasPrefix("invalid") == true }, "\(reqs)")
        #expect(reqs.count == 1, "a refusal is not retried: \(reqs.count) requests")
        // Nothing left: no link in the pod, the veth still in the node, no reservation, no ledger, EC2 unchanged.
        #expect(try c.w.emu.enis() == before)
        #expect(try c.w.pod.snapshot() == podBefore)
        #expect(linkInfo(nil, c.w.veth.hostName) != nil)
        #expect(c.w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") || $0.contains("/queue/") }.isEmpty,
                "\(c.w.h.stateFiles())")
        // The same ADD with the right secret then succeeds (nothing half-done blocks it).
        let ok = try c.run("ADD", ["AWS_ACCESS_KEY_ID": EC2Emulator.accessKeyID,
                                   "AWS_SECRET_ACCESS_KEY": EC2Emulator.secretAccessKey])
        #expect(ok.exitCode == 0, "\(ok.stdout)")
        #expect(try c.run("DEL", ["AWS_ACCESS_KEY_ID": EC2Emulator.accessKeyID,
                                  "AWS_SECRET_ACCESS_KEY": EC2Emulator.secretAccessKey]).exitCode == 0)
        #expect(try c.w.emu.enis() == before)
        c.expectNoLeak([add, ok], [wrong])
    }

    @Test func anUnknownAccessKeyFailsTheADDCleanly() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let secret = "unknown-key-secret-\(UUID().uuidString)"
        let before = try c.w.emu.enis()
        let podBefore = try c.w.pod.snapshot()
        let add = try c.run("ADD", ["AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000", "AWS_SECRET_ACCESS_KEY": secret])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("AuthFailure"), "\(add.stdout)")
        #expect(try c.w.emu.enis() == before)
        #expect(try c.w.pod.snapshot() == podBefore)
        #expect(c.w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") }.isEmpty,
                "\(c.w.h.stateFiles())")
        c.expectNoLeak([add], [secret])
    }

    /// A refusal after the reservation and the ledger entry exist (the Assign call is refused): 106, and the
    /// rollback leaves nothing behind either.
    @Test func aRefusedAssignRollsBackEverything() throws {
        let c = try CredWorld(noInstanceRole: true)
        defer { c.close() }
        let secret = "refused-secret-\(UUID().uuidString)"
        try c.w.emu.sigv4(verify: true, credentials: ["AKIAREFUSEDTEST00000": secret])
        try c.w.emu.fault(action: "AssignIpv6Addresses", mode: "error", status: 403, code: "UnauthorizedOperation",
                          message: "You are not authorized to perform this operation.")
        defer { try? c.w.emu.clearFaults() }
        let before = try c.w.emu.enis()
        let podBefore = try c.w.pod.snapshot()
        let add = try c.run("ADD", ["AWS_ACCESS_KEY_ID": "AKIAREFUSEDTEST00000", "AWS_SECRET_ACCESS_KEY": secret])
        let e = try JSON.parse(add.stdout)
        #expect(e["code"]?.int64Value == 106, "\(add.stdout)")
        #expect(add.stdout.contains("UnauthorizedOperation"), "\(add.stdout)")
        // IPv4 was assigned first, then unassigned again by the rollback.
        let counts = try c.w.emu.counts()
        #expect(counts["AssignIpv6Addresses"] == 1, "\(counts)")
        #expect(try c.w.emu.enis() == before)
        #expect(try c.w.pod.snapshot() == podBefore)
        #expect(c.w.h.stateFiles().filter { $0.contains("/ips/") || $0.contains("/attachments/") || $0.contains("/ledger/") }.isEmpty,
                "\(c.w.h.stateFiles())")
        c.expectNoLeak([add], [secret])
    }
}
