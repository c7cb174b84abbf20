import Foundation
import Testing
import AWS
import JSON
import NodeAgent
import TestSupport
import NodeState

/// install/nodegroup.yaml: its parameters, and its userData rendered as CloudFormation would (Fn::Sub with sample
/// parameter values) and then run in a sandbox directory with stubs for IMDS (curl), the AWS CLI, systemctl,
/// sleep and eni-multus-node (which prints a canned `attach --json`). The tests assert the files the script
/// produces: eni-multus-node's config.json (read back with the agent's own parser), nodeadm's NodeConfig drop-in
/// (maxPods, kubelet policies, flags, labels), the kubelet gate, and the CloudFormation signal; and that a node in
/// an AZ without a multus subnet fails loudly without asking the Auto Scaling group for a replacement.
@Suite struct UnitNodeGroupTemplateTests {
    static let enabled = UnitInstallManifestsTests.hasPyYAML || Capabilities.isCI

    static let instanceID = "i-0123456789abcdef0"

    // MARK: the template

    static func template() throws -> [String: Any] {
        try #require(try UnitInstallManifestsTests.yaml("nodegroup.yaml").first)
    }

    static func parameters(_ t: [String: Any]) throws -> [String: [String: Any]] {
        try #require(t["Parameters"] as? [String: [String: Any]])
    }

    /// Sample values for the parameters without a default (and a few more), as `aws cloudformation deploy
    /// --parameter-overrides` passes them: lists comma-separated.
    static let required: [String: String] = [
        "ClusterName": "demo",
        "ClusterEndpoint": "https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com",
        "ClusterCertificateAuthority": "Q0VSVElGSUNBVEU=",
        "NodeSubnets": "subnet-0c0c0c0c1,subnet-0c0c0c0c2",
        "NodeSecurityGroups": "sg-0n0n0n0n",
        "NodeAgentBucket": "my-bucket",
        "NodeAgentSha256": String(repeating: "0", count: 64),
    ]

    /// The seed's telco layout: OAM, signalling and user plane on separate ENIs, one subnet per AZ for each.
    static let threeNetworks: [String: String] = [
        "MultusSubnets": "subnet-0a0a0a0a1|subnet-0a0a0a0a2,subnet-0b0b0b0b1|subnet-0b0b0b0b2,tag:eni-multus.io/network=userplane",
        "MultusSecurityGroups": "sg-0000000a,sg-0000000b,sg-0000000c",
        "MultusInterfaceTags": "cnf=abc01,type=5g",
        "MultusSourceDestCheck": "false",
        "KubeletCpuManagerPolicy": "static",
        "KubeletTopologyManagerPolicy": "single-numa-node",
        "NodeLabels": "cnf=upf,example.com/plane=user",
        "KubeletExtraFlags": "--register-with-taints=cnf=true:NoSchedule --kube-reserved=cpu=500m",
    ]

    @Test(.enabled(if: enabled))
    func parametersOfferListsKubeletSettingsSSMAndARollingUpdate() throws {
        let t = try Self.template()
        let p = try Self.parameters(t)
        #expect(p["MultusSubnets"]?["Type"] as? String == "CommaDelimitedList")
        #expect(p["MultusSecurityGroups"]?["Type"] as? String == "List<AWS::EC2::SecurityGroup::Id>")
        #expect(p["MultusSubnetSelector"] == nil && p["MultusSecurityGroup"] == nil, "the single-subnet parameters are gone")
        #expect(p["KubeletMaxPods"]?["Type"] as? String == "Number")
        #expect("\(p["KubeletMaxPods"]?["Default"] ?? "")" == "0", "0: attach's figure")
        #expect(p["KubeletCpuManagerPolicy"]?["AllowedValues"] as? [String] == ["none", "static"])
        #expect(p["KubeletTopologyManagerPolicy"]?["AllowedValues"] as? [String]
            == ["none", "best-effort", "restricted", "single-numa-node"])
        for name in ["NodeLabels", "KubeletExtraFlags", "MultusInterfaceTags"] {
            #expect(p[name]?["Default"] as? String == "", "\(name) is optional")
        }
        #expect(p["EnableSSMAccess"]?["Default"] as? String == "false")

        // Each MultusSubnets entry is matched by the pattern (CloudFormation applies it to every list element).
        let pattern = try #require(p["MultusSubnets"]?["AllowedPattern"] as? String)
        let re = try NSRegularExpression(pattern: pattern)
        func ok(_ s: String) -> Bool { re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil }
        for good in ["subnet-0a0a0a0a1", "subnet-0a0a0a0a1|subnet-0a0a0a0a2|subnet-0123456789abcdef0",
                     "tag:eni-multus.io/network=oam", " subnet-0a0a0a0a1"] {
            #expect(ok(good), "\(good)")
        }
        for bad in ["eth1", "subnet-x", "subnet-0a0a0a0a1|", "tag:k", "tag:k='; reboot; '", "sg-0000000a"] {
            #expect(!ok(bad), "\(bad)")
        }
        // Parameters substituted into the script inside single quotes cannot contain one.
        for name in ["MultusInterfaceTags", "NodeLabels", "KubeletExtraFlags", "ClusterName"] {
            let pat = try #require(p[name]?["AllowedPattern"] as? String, "\(name)")
            let r = try NSRegularExpression(pattern: pat)
            let s = "a=b'c"
            #expect(r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil, "\(name)")
        }

        let res = try #require(t["Resources"] as? [String: [String: Any]])
        let role = try #require(res["NodeRole"]?["Properties"] as? [String: Any])
        let managed = try #require(role["ManagedPolicyArns"] as? [Any])
        let ifs = managed.compactMap { ($0 as? [String: Any])?["Fn::If"] as? [Any] }
        let ssm = try #require(ifs.first)
        #expect(ssm.first as? String == "SSMAccess")
        #expect(((ssm[1] as? [String: Any])?["Fn::Sub"] as? String)?.hasSuffix(":iam::aws:policy/AmazonSSMManagedInstanceCore") == true)
        #expect((ssm[2] as? [String: Any])?["Ref"] as? String == "AWS::NoValue")
        let cond = try #require((t["Conditions"] as? [String: Any])?["SSMAccess"] as? [String: Any])
        #expect("\(cond)".contains("EnableSSMAccess"))

        let statements = try #require(((role["Policies"] as? [[String: Any]])?.first?["PolicyDocument"] as? [String: Any])?["Statement"] as? [[String: Any]])
        let actions = UnitInstallManifestsTests.policyActions(statements)
        #expect(!actions.contains("autoscaling:SetInstanceHealth"), "a failed node must not be replaced in a loop")
        let signal = try #require(statements.first { ($0["Action"] as? String) == "cloudformation:SignalResource" })
        #expect(((signal["Resource"] as? [String: Any])?["Fn::Sub"] as? String)?.contains("stack/${AWS::StackName}/") == true,
                "signalling is scoped to this stack")

        let group = try #require(res["NodeGroup"])
        let rolling = try #require((group["UpdatePolicy"] as? [String: Any])?["AutoScalingRollingUpdate"] as? [String: Any])
        #expect(rolling["WaitOnResourceSignals"] as? Bool == true)
        #expect((rolling["MinInstancesInService"] as? [String: Any])?["Ref"] as? String == "DesiredSize")
        #expect((rolling["MaxBatchSize"] as? [String: Any])?["Ref"] as? String == "UpdateMaxBatchSize")
        #expect((rolling["SuspendProcesses"] as? [String] ?? []).contains("ReplaceUnhealthy"))
        let creation = try #require((group["CreationPolicy"] as? [String: Any])?["ResourceSignal"] as? [String: Any])
        #expect((creation["Count"] as? [String: Any])?["Ref"] as? String == "DesiredSize")
    }

    // MARK: rendering

    /// The launch template's userData after Fn::Sub with `values` (over the template's defaults); fails on any
    /// `${…}` that names nothing.
    static func renderUserData(_ t: [String: Any], _ values: [String: String]) throws -> String {
        let params = try parameters(t)
        var v: [String: String] = [:]
        for (name, spec) in params { if let d = spec["Default"] { v[name] = "\(d)" } }
        for (name, value) in values {
            #expect(params[name] != nil, "sample value for unknown parameter \(name)")
            v[name] = value
        }
        for name in params.keys { #expect(v[name] != nil, "no value for parameter \(name)") }
        v["AWS::StackName"] = "demo-multus-nodes"
        v["AWS::Region"] = "us-east-1"
        v["AWS::AccountId"] = "123456789012"
        v["AWS::Partition"] = "aws"

        let res = try #require(t["Resources"] as? [String: [String: Any]])
        let lt = try #require((res["NodeLaunchTemplate"]?["Properties"] as? [String: Any])?["LaunchTemplateData"] as? [String: Any])
        let sub = try #require((lt["UserData"] as? [String: Any])?["Fn::Base64"] as? [String: Any])
        let form = try #require(sub["Fn::Sub"] as? [Any], "Fn::Sub [text, variables]")
        let text = try #require(form.first as? String)
        for (name, value) in form.count > 1 ? (form[1] as? [String: Any] ?? [:]) : [:] {
            let join = try #require((value as? [String: Any])?["Fn::Join"] as? [Any], "\(name)")
            let sep = try #require(join.first as? String)
            let list = try #require((join[1] as? [String: Any])?["Ref"] as? String)
            let raw = try #require(v[list], "\(list)")
            v[name] = raw.split(separator: ",", omittingEmptySubsequences: false).joined(separator: sep)
        }

        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            let close = try #require(rest[open.upperBound...].firstIndex(of: "}"), "unterminated ${")
            let name = String(rest[open.upperBound..<close])
            if name.hasPrefix("!") {
                out += "${" + name.dropFirst() + "}"
            } else {
                let value = v[name]
                #expect(value != nil, "Fn::Sub: ${\(name)} names no parameter, variable or pseudo parameter")
                out += value ?? ""
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The MIME parts of the user data: (Content-Type, body).
    static func mimeParts(_ userData: String) -> [(type: String, body: String)] {
        userData.components(separatedBy: "--BOUNDARY").dropFirst().compactMap { part in
            guard !part.hasPrefix("--"), let split = part.range(of: "\n\n") else { return nil }
            let headers = part[..<split.lowerBound]
            let type = headers.split(separator: "\n").first { $0.hasPrefix("Content-Type:") }
                .map { $0.dropFirst("Content-Type:".count).trimmingCharacters(in: .whitespaces) } ?? ""
            return (type, String(part[split.upperBound...]))
        }
    }

    /// YAML (or JSON) text as JSON objects, through python3's yaml.safe_load.
    static func yamlDocument(_ text: String) throws -> [String: Any] {
        let out = try Shell.check(["python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
                                  stdin: Array(text.utf8), timeout: 60)
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    @Test(.enabled(if: enabled))
    func renderedUserDataKeepsNodeadmsPartAndIMDSv2() throws {
        let ud = try Self.renderUserData(try Self.template(), Self.required.merging(Self.threeNetworks) { $1 })
        // EC2 takes at most 16 KB of user data before base64; a real cluster CA adds about 1.5 KB to the sample's.
        #expect(ud.utf8.count + 2048 < 16384, "\(ud.utf8.count) bytes")
        let parts = Self.mimeParts(ud)
        #expect(parts.map(\.type) == ["application/node.eks.aws", "text/x-shellscript; charset=\"us-ascii\""])
        let nc = try Self.yamlDocument(parts[0].body)
        #expect(nc["kind"] as? String == "NodeConfig")
        let cluster = try #require((nc["spec"] as? [String: Any])?["cluster"] as? [String: Any])
        #expect(cluster["name"] as? String == "demo")
        #expect(cluster["apiServerEndpoint"] as? String == Self.required["ClusterEndpoint"])
        #expect(cluster["cidr"] as? String == "10.100.0.0/16")
        let script = parts[1].body
        #expect(script.hasPrefix("#!/bin/bash\n"))
        #expect(script.contains("root=${ENI_MULTUS_ROOT:-}"), "${!…} renders as a literal shell expansion")
        #expect(Shell.run(["bash", "-n"], input: script, timeout: 30).status == 0, "bash -n")
        #expect(!script.contains("curl -s http://169.254.169.254"), "no IMDSv1 read")
        #expect(!script.contains("set-instance-health"))
    }

    // MARK: the sandbox

    struct Run {
        var status: Int32
        var stderr: String
        var root: URL
        var stub: URL
        var calls: [String]
        func file(_ path: String) -> String? { try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }
        func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path) }
        var signals: [String] {
            ((try? String(contentsOf: stub.appendingPathComponent("signals"), encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }
        var attachCalls: [String] { calls.filter { $0.hasPrefix("eni-multus-node ") } }
    }

    static let stubs: [String: String] = [
        "curl": #"""
            #!/bin/bash
            # IMDSv2 only: the token PUT, then GETs that carry the token.
            echo "curl $*" >> "$STUB/calls"
            url= token= put=
            for a in "$@"; do
              case "$a" in
                http://*) url=$a ;;
                "X-aws-ec2-metadata-token: "*) token=${a#X-aws-ec2-metadata-token: } ;;
                PUT) put=1 ;;
              esac
            done
            base=http://169.254.169.254/latest
            if [ "$url" = "$base/api/token" ] && [ -n "$put" ]; then printf TOKEN123; exit 0; fi
            [ "$token" = TOKEN123 ] || { echo "stub IMDS: 401 without a session token" >&2; exit 22; }
            case "$url" in
              "$base/meta-data/instance-id") printf i-0123456789abcdef0 ;;
              "$base/meta-data/placement/availability-zone") cat "$STUB/az" ;;
              "$base/meta-data/placement/region") printf us-east-1 ;;
              *) exit 22 ;;
            esac
            """#,
        "aws": #"""
            #!/bin/bash
            echo "aws $*" >> "$STUB/calls"
            case "$1 $2" in
              "s3 cp") cp "$STUB/eni-multus-node" "${@: -1}" ;;
              "cloudformation signal-resource") echo "$*" >> "$STUB/signals" ;;
              *) echo "stub aws: unexpected $*" >&2; exit 255 ;;
            esac
            """#,
        "systemctl": #"""
            #!/bin/bash
            echo "systemctl $*" >> "$STUB/calls"
            case "$1" in
              cat) cat "$STUB/nodeadm-run.service" ;;
              daemon-reload) ;;
              enable) [ "$2" = --now ] && [ "$3" = eni-multus-agent.service ] || exit 1 ;;
              *) exit 1 ;;
            esac
            """#,
        "sleep": #"""
            #!/bin/bash
            echo "sleep $*" >> "$STUB/calls"
            """#,
    ]

    /// What `s3 cp` "downloads": prints the canned `attach --json` and exits as told.
    static let agentStub = #"""
        #!/bin/bash
        echo "eni-multus-node $*" >> "$STUB/calls"
        if [ -f "$STUB/attach.err" ]; then cat "$STUB/attach.err" >&2; fi
        if [ -f "$STUB/attach.json" ]; then cat "$STUB/attach.json"; fi
        exit "$(cat "$STUB/attach.rc" 2>/dev/null || echo 0)"
        """#

    /// A current AL2023 AMI's nodeadm-run.service reads the drop-in directory besides the user data.
    static let currentNodeadmRun = """
        [Unit]
        Description=EKS Nodeadm Run
        After=nodeadm-config.service cloud-final.service
        [Service]
        Type=oneshot
        ExecStart=/usr/bin/nodeadm init --skip config --config-source imds://user-data --config-source file:///etc/eks/nodeadm.d/ --config-cache /run/eks/nodeadm/config.json
        """

    /// `attach --json` for `count` multus ENIs on an m5.2xlarge (4 ENIs, 15 IPv4 each): the limits object is the
    /// agent's own serialisation (NodeLimits.json), so the key the userData reads is the one the agent writes.
    static func attachReport(enis count: Int, az: String = "us-east-1a") -> (json: String, maxPods: Int) {
        let info = InstanceTypeInfo(instanceType: "m5.2xlarge", maximumNetworkInterfaces: 4, ipv4AddressesPerInterface: 15,
                                    ipv6AddressesPerInterface: 15, ipv6Supported: true)
        var attached = [NetworkInterface(id: "eni-0primary0", attachment: NetworkInterfaceAttachment(id: "attach-p", deviceIndex: 0))]
        var enis: [String] = []
        for i in 1...count {
            attached.append(NetworkInterface(id: "eni-0multus\(i)", attachment: NetworkInterfaceAttachment(id: "attach-\(i)", deviceIndex: i),
                                             tags: [NodeTags.noManage: "true"]))
            enis.append(#"{"id":"eni-0multus\#(i)","subnetId":"subnet-0\#(i)\#(i)\#(i)\#(i)\#(i)\#(i)\#(i)\#(i)1","mac":"02:00:00:00:00:0\#(i)","networkCardIndex":0,"deviceIndex":\#(i),"link":"ens\#(5 + i)","securityGroups":["sg-0000000\#(i)"],"actions":["created","attached"]}"#)
        }
        let limits = NodeLimits(info: info, attached: attached)
        let json = #"{"instanceId":"\#(instanceID)","availabilityZone":"\#(az)","changed":true,"limits":\#(limits.json.serialized()),"enis":[\#(enis.joined(separator: ","))],"unconfigured":[]}"#
        return (json, limits.vpcCNIMaxPods)
    }

    /// Renders the userData with `values`, then runs its shell part with the stubs first on PATH and every path
    /// below a fresh sandbox root. Nothing leaves the machine: curl and aws are stubs.
    static func run(_ values: [String: String], az: String = "us-east-1a", attachJSON: String?, attachExit: Int32 = 0,
                    attachError: String = "", nodeadmRun: String? = currentNodeadmRun) throws -> Run {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nodegroup-\(UUID().uuidString)")
        let root = dir.appendingPathComponent("root"), stub = dir.appendingPathComponent("stub"), bin = dir.appendingPathComponent("bin")
        for d in [root, stub, bin] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        func write(_ url: URL, _ text: String, executable: Bool = false) throws {
            try text.write(to: url, atomically: true, encoding: .utf8)
            if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        }
        for (name, text) in stubs { try write(bin.appendingPathComponent(name), text + "\n", executable: true) }
        let agent = stub.appendingPathComponent("eni-multus-node")
        try write(agent, agentStub + "\n", executable: true)
        let sha = try #require(try Shell.check(["sha256sum", agent.path], timeout: 30).split(separator: " ").first.map(String.init))
        try write(stub.appendingPathComponent("az"), az)
        if let attachJSON { try write(stub.appendingPathComponent("attach.json"), attachJSON + "\n") }
        try write(stub.appendingPathComponent("attach.rc"), "\(attachExit)\n")
        if !attachError.isEmpty { try write(stub.appendingPathComponent("attach.err"), attachError + "\n") }
        if let nodeadmRun { try write(stub.appendingPathComponent("nodeadm-run.service"), nodeadmRun + "\n") }

        var all = required.merging(values) { $1 }
        all["NodeAgentSha256"] = sha
        let ud = try renderUserData(try template(), all)
        let script = try #require(mimeParts(ud).first { $0.type.hasPrefix("text/x-shellscript") }?.body)
        let path = dir.appendingPathComponent("userdata.sh")
        try write(path, script)
        let r = Shell.run(["/bin/bash", path.path],
                          env: ["PATH": bin.path + ":/usr/local/bin:/usr/bin:/bin", "STUB": stub.path,
                                "ENI_MULTUS_ROOT": root.path, "LANG": "C.UTF-8", "HOME": dir.path],
                          clearEnvironment: true, timeout: 120)
        let calls = ((try? String(contentsOf: stub.appendingPathComponent("calls"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
        return Run(status: r.status, stderr: r.stderr, root: root, stub: stub, calls: calls)
    }

    static func cleanup(_ r: Run) { try? FileManager.default.removeItem(at: r.root.deletingLastPathComponent()) }

    static let conf = "etc/eni-multus/config.json"
    static let dropIn = "etc/eks/nodeadm.d/50-eni-multus.yaml"
    static let gate = "etc/systemd/system/kubelet.service.d/90-eni-multus.conf"
    static let marker = "var/lib/eni-multus-node/attached"

    /// spec.kubelet of the NodeConfig drop-in.
    static func kubelet(_ r: Run) throws -> [String: Any] {
        let text = try #require(r.file(dropIn), "no NodeConfig drop-in")
        let doc = try yamlDocument(text)
        #expect(doc["apiVersion"] as? String == "node.eks.aws/v1alpha1")
        #expect(doc["kind"] as? String == "NodeConfig")
        return try #require((doc["spec"] as? [String: Any])?["kubelet"] as? [String: Any])
    }

    @Test(.enabled(if: enabled))
    func userDataAttachesOneENIPerSubnetAndGivesNodeadmTheMaxPods() throws {
        let (report, maxPods) = Self.attachReport(enis: 3)
        #expect(maxPods == 16, "m5.2xlarge with 3 multus ENIs: 1 ENI left × 14 + 2")
        let r = try Self.run(Self.threeNetworks, attachJSON: report)
        defer { Self.cleanup(r) }
        #expect(r.status == 0, "\(r.stderr)")

        // config.json: one entry per MultusSubnets entry, in order, each with its own security group; accepted by
        // the agent's parser.
        let text = try #require(r.file(Self.conf))
        let config = try NodeConfig.parse(text)
        try config.validate(needsSubnets: true)
        #expect(config.clusterName == "demo")
        #expect(config.subnets.map(\.selector) == [.ids(["subnet-0a0a0a0a1", "subnet-0a0a0a0a2"]),
                                                   .ids(["subnet-0b0b0b0b1", "subnet-0b0b0b0b2"]),
                                                   .tags(["eni-multus.io/network": "userplane"])])
        #expect(config.subnets.map { config.securityGroups(for: $0) } == [["sg-0000000a"], ["sg-0000000b"], ["sg-0000000c"]])
        #expect(config.extraTags == ["cnf": "abc01", "type": "5g"])
        #expect(config.sourceDestCheck == false && config.rpFilter == 2)

        // attach ran once, on that file, with JSON output.
        #expect(r.attachCalls == ["eni-multus-node attach --config \(r.root.path)/\(Self.conf) --json"])
        #expect(r.calls.contains { $0.hasPrefix("aws s3 cp") && $0.contains("s3://my-bucket/eni-multus/eni-multus-node") })

        // nodeadm's drop-in: attach's figure, the policies, labels and flags.
        let kubelet = try Self.kubelet(r)
        let kc = try #require(kubelet["config"] as? [String: Any])
        #expect(kc["maxPods"] as? Int == maxPods)
        #expect(kc["cpuManagerPolicy"] as? String == "static")
        #expect(kc["topologyManagerPolicy"] as? String == "single-numa-node")
        #expect(kubelet["flags"] as? [String] == ["--node-labels=cnf=upf,example.com/plane=user",
                                                  "--register-with-taints=cnf=true:NoSchedule", "--kube-reserved=cpu=500m"])

        // kubelet was gated before anything else and released at the end; CloudFormation got SUCCESS.
        #expect(r.file(Self.gate)?.contains("ConditionPathExists=/var/lib/eni-multus-node/attached") == true)
        #expect(r.calls.first == "systemctl daemon-reload", "the gate is in place before IMDS or EC2 is touched")
        #expect(r.exists(Self.marker))
        // The node agent runs as a unit (the plugin's EC2 goes through it), started before the marker frees kubelet.
        let unit = try #require(r.file("etc/systemd/system/eni-multus-agent.service"))
        #expect(unit.contains("ExecStart=/usr/local/bin/eni-multus-node agent --socket /run/eni-multus/agent.sock"))
        #expect(unit.contains("Before=kubelet.service") && unit.contains("Restart=always"))
        #expect(r.calls.contains("systemctl enable --now eni-multus-agent.service"), "\(r.calls)")
        #expect(r.signals.count == 1)
        let signal = try #require(r.signals.first)
        #expect(signal.contains("--stack-name demo-multus-nodes --logical-resource-id NodeGroup --unique-id \(Self.instanceID) --status SUCCESS"))
        #expect(r.stderr.contains("3 multus ENIs") && r.stderr.contains("kubelet maxPods \(maxPods)"), "\(r.stderr)")
    }

    @Test(.enabled(if: enabled))
    func oneSecurityGroupServesEverySubnetAndMaxPodsCanBeSet() throws {
        let (report, _) = Self.attachReport(enis: 2)
        let r = try Self.run(["MultusSubnets": "subnet-0a0a0a0a1,subnet-0b0b0b0b1", "MultusSecurityGroups": "sg-0000000a",
                              "KubeletMaxPods": "110"], attachJSON: report)
        defer { Self.cleanup(r) }
        #expect(r.status == 0, "\(r.stderr)")
        let config = try NodeConfig.parse(try #require(r.file(Self.conf)))
        #expect(config.subnets == [SubnetSpec(.id("subnet-0a0a0a0a1")), SubnetSpec(.id("subnet-0b0b0b0b1"))])
        #expect(config.securityGroups == ["sg-0000000a"], "the seed's rule: one group for all")
        #expect(config.extraTags.isEmpty && config.sourceDestCheck == true)
        let kubelet = try Self.kubelet(r)
        let kc = try #require(kubelet["config"] as? [String: Any])
        #expect(kc["maxPods"] as? Int == 110, "KubeletMaxPods overrides attach's figure (prefix delegation)")
        #expect(kc["cpuManagerPolicy"] == nil && kc["topologyManagerPolicy"] == nil, "none: nodeadm's defaults")
        #expect(kubelet["flags"] == nil, "no labels, no flags")
        #expect(r.signals.count == 1 && r.signals[0].contains("--status SUCCESS"))
    }

    @Test(.enabled(if: enabled))
    func anAZWithoutAMultusSubnetFailsLoudlyAndDoesNotChurn() throws {
        let message = "eni-multus-node: error: none of the subnets subnet-0a0a0a0a1, subnet-0a0a0a0a2 is in us-east-1c"
        let r = try Self.run(Self.threeNetworks, az: "us-east-1c", attachJSON: nil, attachExit: 1, attachError: message)
        defer { Self.cleanup(r) }
        #expect(r.status != 0)
        #expect(r.stderr.contains("attach failed 3 times; last: \(message)"), "\(r.stderr)")
        #expect(r.stderr.contains("instance \(Self.instanceID) in us-east-1c"), "\(r.stderr)")
        #expect(r.stderr.contains("does not join the cluster"))
        #expect(r.attachCalls.count == 3)
        #expect(r.file("var/lib/eni-multus-node/failed")?.contains(message) == true)
        // The node stays out of the cluster (kubelet gated, no marker, no NodeConfig) and is not marked Unhealthy.
        #expect(r.exists(Self.gate) && !r.exists(Self.marker) && !r.exists(Self.dropIn))
        #expect(!r.calls.contains { $0.contains("autoscaling") }, "\(r.calls)")
        #expect(r.signals.count == 1 && r.signals[0].contains("--unique-id \(Self.instanceID) --status FAILURE"), "\(r.signals)")
    }

    @Test(.enabled(if: enabled))
    func configurationErrorsStopBeforeAnyENIIsMade() throws {
        let (report, _) = Self.attachReport(enis: 3)
        // Two security groups for three subnets: neither one per subnet nor one for all.
        let groups = try Self.run(Self.threeNetworks.merging(["MultusSecurityGroups": "sg-0000000a,sg-0000000b"]) { $1 },
                                  attachJSON: report)
        defer { Self.cleanup(groups) }
        #expect(groups.status != 0)
        #expect(groups.stderr.contains("2 MultusSecurityGroups for 3 MultusSubnets"), "\(groups.stderr)")
        #expect(groups.attachCalls.isEmpty && !groups.calls.contains { $0.hasPrefix("aws s3") })
        #expect(groups.signals.count == 1 && groups.signals[0].contains("FAILURE"))

        // attach refuses the configuration (exit 2): not retried.
        let refused = try Self.run(Self.threeNetworks, attachJSON: nil, attachExit: 2,
                                   attachError: "eni-multus-node: error: configuration: extraTags may not set eni-multus.io/node")
        defer { Self.cleanup(refused) }
        #expect(refused.status != 0)
        #expect(refused.attachCalls.count == 1)
        #expect(refused.stderr.contains("refused the configuration"), "\(refused.stderr)")
        #expect(!refused.calls.contains { $0.hasPrefix("sleep") })

        // An AMI whose nodeadm-run.service does not read /etc/eks/nodeadm.d/ would ignore maxPods.
        let old = try Self.run(Self.threeNetworks, attachJSON: report,
                               nodeadmRun: "[Service]\nExecStart=/usr/bin/nodeadm init --skip config")
        defer { Self.cleanup(old) }
        #expect(old.status != 0)
        #expect(old.stderr.contains("does not read /etc/eks/nodeadm.d/"), "\(old.stderr)")
        #expect(old.attachCalls.isEmpty && !old.exists(Self.marker))

        // attach succeeded but reports fewer ENIs than configured subnets: no NodeConfig, no release of kubelet.
        let (short, _) = Self.attachReport(enis: 2)
        let missing = try Self.run(Self.threeNetworks, attachJSON: short)
        defer { Self.cleanup(missing) }
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("attach reported 2 ENIs for 3 multus subnets"), "\(missing.stderr)")
        #expect(!missing.exists(Self.dropIn) && !missing.exists(Self.marker))
        #expect(missing.signals.count == 1 && missing.signals[0].contains("FAILURE"))
    }
}
