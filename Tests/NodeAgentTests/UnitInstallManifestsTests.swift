import Foundation
import Testing
import TestSupport

/// install/: the manifests parse and carry what the DaemonSet needs; the IAM policy (and the CloudFormation
/// template's copy of it) allows exactly the EC2 actions the code calls; cfn-lint passes on the template.
@Suite struct UnitInstallManifestsTests {
    static var repo: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.path
    }

    static let hasPyYAML = Shell.run(["python3", "-c", "import yaml"], timeout: 30).status == 0

    /// Every document of a YAML file, through python3's yaml.safe_load_all (the templates use no short-form tags).
    static func yaml(_ file: String) throws -> [[String: Any]] {
        let out = try Shell.check(["python3", "-c",
            "import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))",
            repo + "/install/" + file], timeout: 60)
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
    }

    @Test(.enabled(if: hasPyYAML || Capabilities.isCI))
    func daemonSetIsPrivilegedOnTheHostNetworkWithItsHostPaths() throws {
        let ds = try #require(try Self.yaml("daemonset.yaml").first)
        #expect(ds["kind"] as? String == "DaemonSet")
        let spec = try #require((ds["spec"] as? [String: Any])?["template"] as? [String: Any])
        let pod = try #require(spec["spec"] as? [String: Any])
        #expect(pod["hostNetwork"] as? Bool == true)
        #expect(pod["serviceAccountName"] as? String == "eni-multus-node")
        let inits = try #require(pod["initContainers"] as? [[String: Any]])
        let mains = try #require(pod["containers"] as? [[String: Any]])
        for c in inits + mains {
            #expect((c["securityContext"] as? [String: Any])?["privileged"] as? Bool == true, "\(c["name"] ?? "")")
        }
        let initCmd = try #require(inits.first?["command"] as? [String])
        #expect(initCmd.starts(with: ["/usr/local/bin/eni-multus-node", "install", "--attach"]))
        let mainCmd = try #require(mains.first?["command"] as? [String])
        #expect(mainCmd.contains("--watch") && mainCmd[1] == "status", "a real command, not a sleep loop")
        // The node agent: the plugin's socket on the host's /run/eni-multus, the plugin's state for its reconcile.
        let agent = try #require(mains.compactMap { $0["command"] as? [String] }.first { $0.count > 1 && $0[1] == "agent" })
        #expect(agent.contains("--metrics-port") && agent.contains("--reconcile-interval"))
        let socket = try #require(agent.firstIndex(of: "--socket").map { agent[$0 + 1] })
        #expect(socket == "/host/run/eni-multus/agent.sock", "the plugin's default agentSocket, below --host-root")
        #expect(agent.firstIndex(of: "--data-dir").map { agent[$0 + 1] } == "/host/var/lib/cni/eni-multus")
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let hostPaths = Set(volumes.compactMap { ($0["hostPath"] as? [String: Any])?["path"] as? String })
        #expect(hostPaths == ["/opt/cni/bin", "/etc/systemd/network", "/var/lib/eni-multus-node", "/var/lib/cni/eni-multus",
                              "/run/eni-multus"])
        // Every host path is mounted below /host, by the init container, the watch container or the agent.
        let mounts = Set((inits + mains).flatMap { ($0["volumeMounts"] as? [[String: Any]] ?? []).compactMap { $0["mountPath"] as? String } })
        for p in hostPaths { #expect(mounts.contains("/host" + p), "\(p)") }
        let cm = try #require(try Self.yaml("configmap.yaml").first)
        let json = try #require((cm["data"] as? [String: String])?["config.json"])
        #expect(try JSONSerialization.jsonObject(with: Data(json.utf8)) is [String: Any])
        #expect(try Self.yaml("serviceaccount.yaml").first?["kind"] as? String == "ServiceAccount")
    }

    /// The EC2 actions the sources call: EC2Client methods mapped to their Action, then every call of those
    /// methods (or of `call("Action"`) anywhere in Sources/ outside the AWS module.
    static func actionsUsedInSources() throws -> Set<String> {
        let client = try String(contentsOfFile: repo + "/Sources/AWS/EC2Client.swift", encoding: .utf8)
        var methodAction: [String: String] = [:]
        var methodCalls: [String: String] = [:]
        let chunks = client.components(separatedBy: "public func ").dropFirst()
        let actionLiteral = try Regex(#"(?:call|paginate)\(\s*"([A-Z][A-Za-z0-9]+)""#)
        let methodName = try Regex(#"^([a-zA-Z0-9]+)\("#)
        for chunk in chunks {
            guard let m = chunk.firstMatch(of: methodName), let name = m.output[1].substring.map(String.init) else { continue }
            if let a = chunk.firstMatch(of: actionLiteral), let act = a.output[1].substring { methodAction[name] = String(act) }
            else { methodCalls[name] = chunk }
        }
        for (name, body) in methodCalls {   // wrappers (describeNetworkInterface → describeNetworkInterfaces)
            if let target = methodAction.keys.first(where: { body.contains("try \($0)(") }) { methodAction[name] = methodAction[target] }
        }
        #expect(methodAction["createNetworkInterface"] == "CreateNetworkInterface")
        #expect(methodAction["describeNetworkInterface"] == "DescribeNetworkInterfaces")
        var used: Set<String> = []
        let enumerator = FileManager.default.enumerator(atPath: repo + "/Sources")!
        while let f = enumerator.nextObject() as? String {
            guard f.hasSuffix(".swift"), !f.hasPrefix("AWS/") else { continue }
            let text = try String(contentsOfFile: repo + "/Sources/" + f, encoding: .utf8)
            for (method, action) in methodAction where text.contains(".\(method)(") { used.insert(action) }
            for m in text.matches(of: actionLiteral) { if let a = m.output[1].substring { used.insert(String(a)) } }
        }
        return used
    }

    static func policyActions(_ statements: [[String: Any]]) -> Set<String> {
        var out: Set<String> = []
        for s in statements {
            if let a = s["Action"] as? String { out.insert(a) }
            for a in s["Action"] as? [String] ?? [] { out.insert(a) }
        }
        return out
    }

    @Test func iamPolicyCoversExactlyTheActionsTheCodeCalls() throws {
        let used = try Self.actionsUsedInSources()
        #expect(used.isSuperset(of: ["CreateNetworkInterface", "AttachNetworkInterface", "DetachNetworkInterface",
                                     "DeleteNetworkInterface", "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses",
                                     "DescribeNetworkInterfaces"]), "\(used.sorted())")
        let text = try String(contentsOfFile: Self.repo + "/install/iam-policy.json", encoding: .utf8)
        let policy = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let statements = try #require(policy["Statement"] as? [[String: Any]])
        let ec2 = Self.policyActions(statements).filter { $0.hasPrefix("ec2:") }
        // CreateTags: here for tag-on-create (TagSpecification) only; `attach --adopt` calls it on an existing ENI,
        // which only install/iam-policy-adopt.json allows.
        let calls = Set(used.map { "ec2:" + $0 })
        #expect(calls.contains("ec2:CreateTags"))
        #expect(ec2.subtracting(["ec2:CreateTags"]) == calls.subtracting(["ec2:CreateTags"]),
                "missing: \(calls.subtracting(ec2).sorted()), extra: \(ec2.subtracting(calls).sorted())")
        let createTags = try #require(statements.first { ($0["Action"] as? String) == "ec2:CreateTags" })
        #expect(((createTags["Condition"] as? [String: Any])?["StringEquals"] as? [String: String])?["ec2:CreateAction"] == "CreateNetworkInterface")
        // Creating an ENI resource requires our tags; every ENI mutation requires our cluster tag on the ENI.
        for s in statements where (s["Resource"] as? String)?.hasSuffix(":network-interface/*") == true {
            let cond = try #require(s["Condition"] as? [String: Any], "\(s["Sid"] ?? "")")
            let eq = try #require(cond["StringEquals"] as? [String: String])
            if (s["Action"] as? String) == "ec2:CreateNetworkInterface" {
                #expect(eq["aws:RequestTag/eni-multus.io/cluster"] == "CLUSTER_NAME")
                #expect(eq["aws:RequestTag/node.k8s.amazonaws.com/no_manage"] == "true")
            } else if (s["Action"] as? String) != "ec2:CreateTags" {
                #expect(eq["ec2:ResourceTag/eni-multus.io/cluster"] == "CLUSTER_NAME")
            }
        }
    }

    /// The adoption policy lets CreateTags add our two tags, and only them, to an ENI that has no_manage and neither
    /// of our tags yet; it grants nothing else.
    @Test func adoptPolicyTagsOnlyUntaggedNoManageENIs() throws {
        let url = URL(fileURLWithPath: Self.repo + "/install/iam-policy-adopt.json")
        let policy = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let statements = try #require(policy["Statement"] as? [[String: Any]])
        #expect(Self.policyActions(statements) == ["ec2:CreateTags"])
        let s = try #require(statements.first)
        #expect(statements.count == 1 && s["Effect"] as? String == "Allow")
        #expect(s["Resource"] as? String == "arn:aws:ec2:*:*:network-interface/*")
        let cond = try #require(s["Condition"] as? [String: Any])
        let eq = try #require(cond["StringEquals"] as? [String: String])
        #expect(eq["ec2:ResourceTag/node.k8s.amazonaws.com/no_manage"] == "true")
        #expect(eq["aws:RequestTag/eni-multus.io/cluster"] == "CLUSTER_NAME")
        let null = try #require(cond["Null"] as? [String: String])
        #expect(null == ["ec2:ResourceTag/eni-multus.io/cluster": "true", "ec2:ResourceTag/eni-multus.io/node": "true",
                         "aws:RequestTag/eni-multus.io/node": "false"])
        let keys = try #require((cond["ForAllValues:StringEquals"] as? [String: Any])?["aws:TagKeys"] as? [String])
        #expect(Set(keys) == ["eni-multus.io/cluster", "eni-multus.io/node"])
    }

    @Test(.enabled(if: hasPyYAML || Capabilities.isCI))
    func cloudFormationTemplateUsesIMDSv2AndTheSamePolicy() throws {
        let t = try #require(try Self.yaml("nodegroup.yaml").first)
        let res = try #require(t["Resources"] as? [String: [String: Any]])
        let lt = try #require((res["NodeLaunchTemplate"]?["Properties"] as? [String: Any])?["LaunchTemplateData"] as? [String: Any])
        let md = try #require(lt["MetadataOptions"] as? [String: Any])
        #expect(md["HttpTokens"] as? String == "required")
        let sub = ((lt["UserData"] as? [String: Any])?["Fn::Base64"] as? [String: Any])?["Fn::Sub"]
        let userData = try #require((sub as? String) ?? ((sub as? [Any])?.first as? String))  // Fn::Sub text or [text, vars]
        #expect(userData.contains("PUT http://169.254.169.254/latest/api/token"))
        #expect(userData.contains("X-aws-ec2-metadata-token: $TOKEN"))
        #expect(userData.contains("eni-multus-node attach"))
        #expect(!userData.contains("curl -s http://169.254.169.254"), "no IMDSv1 read")
        let policies = try #require((res["NodeRole"]?["Properties"] as? [String: Any])?["Policies"] as? [[String: Any]])
        let statements = try #require((policies.first?["PolicyDocument"] as? [String: Any])?["Statement"] as? [[String: Any]])
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.repo + "/install/iam-policy.json"))) as? [String: Any])
        #expect(Self.policyActions(statements).filter { $0.hasPrefix("ec2:") }
            == Self.policyActions(file["Statement"] as? [[String: Any]] ?? []))
    }

    static let hasCfnLint = Shell.run(["sh", "-c", "command -v cfn-lint"], timeout: 30).status == 0

    @Test(.enabled(if: hasCfnLint || Capabilities.isCI))
    func cfnLintPasses() throws {
        let r = Shell.run(["cfn-lint", Self.repo + "/install/nodegroup.yaml"], timeout: 300)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }
}
