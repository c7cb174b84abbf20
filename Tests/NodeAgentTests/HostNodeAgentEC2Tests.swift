import Foundation
import Testing
import AWS
import NodeAgent
import TestSupport

/// `eni-multus-node` against moto + the IMDSv2 emulator + the fault proxy (all on 127.0.0.1), in-process, in the
/// test's own netns. The hot-plug is simulated: when moto says an ENI is attached to the node, a veth carrying
/// that ENI's MAC appears (down), and the real netlink/sysctl path finds it by MAC, brings it up and sets rp_filter.
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct HostNodeAgentEC2Tests {
    static let emulator = Result { try EC2Emulator() }
}

/// Real netlink and /proc/sys, plus a veth with the ENI's MAC once moto reports the ENI attached to `instance`.
final class HotplugLinks: LinkOperations, @unchecked Sendable {
    let emu: EC2Emulator
    let instance: String
    let live = LiveLinkOperations()
    var veths: [Veth] = []
    var sysctls: [(String, String)] = []

    init(emu: EC2Emulator, instance: String) {
        self.emu = emu
        self.instance = instance
    }

    func link(mac: String) throws(NodeError) -> NodeLink? {
        if let l = try live.link(mac: mac) { return l }
        guard let enis = try? emu.enis(), enis.values.contains(where: { $0.mac == mac && $0.instanceID == instance }) else {
            return nil
        }
        do {
            let v = try makeVeth(hostName: uniqueIfName(prefix: "nahp"), peerName: uniqueIfName(prefix: "nahq"), up: false)
            veths.append(v)
            try Shell.check(["ip", "link", "set", v.hostName, "address", mac])
        } catch {
            throw .link("test hot-plug: \(error)")
        }
        return try live.link(mac: mac)
    }

    func setUp(_ link: NodeLink) throws(NodeError) { try live.setUp(link) }

    func writeSysctl(_ key: String, _ value: String) throws(NodeError) {
        sysctls.append((key, value))
        try live.writeSysctl(key, value)
    }

    func close() { for v in veths { v.delete() } }
}

/// A scenario, a host root in a temp dir, and a context builder.
struct NodeWorld {
    let emu: EC2Emulator
    let world: [String: Any]
    let instance: String
    let root: String
    let links: HotplugLinks
    var logLines: [String] = []

    init(_ emulator: Result<EC2Emulator, any Error>, scenario: [String: Any]) throws {
        emu = try emulator.get()
        try emu.clearFaults()
        world = try emu.scenario(scenario)
        let insts = try #require(world["instances"] as? [String: [String: Any]])
        instance = try #require((insts["node1"] ?? insts.values.first)?["id"] as? String)
        root = NSTemporaryDirectory() + "/nodeagent-" + uniqueName(prefix: "", length: 10)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        links = HotplugLinks(emu: emu, instance: instance)
        try emu.resetCounts()
    }

    func close() {
        links.close()
        try? FileManager.default.removeItem(atPath: root)
        try? emu.clearFaults()
    }

    func subnet(_ name: String) throws -> String {
        try #require((world["subnets"] as? [String: [String: Any]])?[name]?["id"] as? String)
    }

    func sg(_ name: String) throws -> String {
        try #require((world["securityGroups"] as? [String: String])?[name])
    }

    func context(_ config: NodeConfig, env: [String: String] = [:]) -> NodeContext {
        let environment = emu.environment.merging(env) { _, b in b }
        let clock = SystemClock()
        let timeout = config.ec2TimeoutSeconds
        return NodeContext(
            config: config, paths: NodePaths(hostRoot: root), clock: clock, links: links, log: { _ in },
            openSession: { () throws(NodeError) -> AWSSession in
                try AWSSession(environment: environment, timeoutSeconds: timeout, clock: clock, transport: CurlTransport())
            })
    }

    func config(_ subnets: [SubnetSpec], sgs: [String] = [], sdc: Bool = false, rp: Int? = 2) -> NodeConfig {
        var c = NodeConfig(clusterName: "demo", subnets: subnets, securityGroups: sgs, sourceDestCheck: sdc, rpFilter: rp)
        c.linkTimeoutSeconds = 10
        c.detachTimeoutSeconds = 10
        c.ec2TimeoutSeconds = 30
        return c
    }

    static let mutating: Set<String> = [
        "CreateNetworkInterface", "AttachNetworkInterface", "DetachNetworkInterface", "DeleteNetworkInterface",
        "ModifyNetworkInterfaceAttribute", "CreateTags", "AssignPrivateIpAddresses", "UnassignPrivateIpAddresses",
    ]

    func mutatingCounts() throws -> [String: Int] { try emu.counts().filter { Self.mutating.contains($0.key) } }

    func params(_ action: String) throws -> [[String: String]] {
        try emu.requests(action: action).map { ($0["params"] as? [String: String]) ?? [:] }
    }

    func ours() throws -> [EC2Emulator.ENI] {
        try emu.enis().values.filter { $0.tags["eni-multus.io/cluster"] == "demo" }.sorted { $0.id < $1.id }
    }
}

/// One m5.xlarge (4 ENIs, 15 IPv4 each) with no secondary ENI, in us-east-1a unless told.
func bareNode(az: String = "us-east-1a", extraENIs: [[String: Any]] = [], unattached: [[String: Any]] = [],
              subnets: [[String: Any]]? = nil) -> [String: Any] {
    // A seed of our own: MACs differ from the standard scenario's, whose veths other suites create in this netns.
    var s: [String: Any] = [
        "seed": 7707,
        "instances": [["name": "node1", "type": "m5.xlarge", "subnet": "nodes-\(az)", "enis": extraENIs]],
        "enis": unattached,
    ]
    if let subnets { s["subnets"] = subnets }
    return s
}

extension HostNodeAgentEC2Tests {
    @Test func freshNodeCreatesTaggedAttachesAndConfiguresThenRerunChangesNothing() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode())
        defer { w.close() }
        let multus = try w.subnet("multus-us-east-1a")
        let sg = try w.sg("multus")
        let report = try Attacher(w.context(w.config([SubnetSpec(.id(multus))], sgs: [sg]))).run()

        #expect(try w.mutatingCounts() == ["CreateNetworkInterface": 1, "AttachNetworkInterface": 1,
                                           "ModifyNetworkInterfaceAttribute": 2])
        // What was sent (moto ignores DeleteOnTermination; the request log does not).
        let create = try #require(try w.params("CreateNetworkInterface").first)
        #expect(create["SubnetId"] == multus && create["SecurityGroupId.1"] == sg)
        #expect(create["TagSpecification.1.ResourceType"] == "network-interface")
        let tags = Dictionary(uniqueKeysWithValues: (1...3).compactMap { i in
            create["TagSpecification.1.Tag.\(i).Key"].map { ($0, create["TagSpecification.1.Tag.\(i).Value"] ?? "") }
        })
        #expect(tags == ["node.k8s.amazonaws.com/no_manage": "true", "eni-multus.io/cluster": "demo",
                         "eni-multus.io/node": w.instance])
        #expect(try w.emu.counts()["CreateTags"] == nil, "tagged at creation, never after")
        let attach = try #require(try w.params("AttachNetworkInterface").first)
        #expect(attach["DeviceIndex"] == "1" && attach["InstanceId"] == w.instance && attach["NetworkCardIndex"] == nil)
        let modifies = try w.params("ModifyNetworkInterfaceAttribute")
        #expect(modifies.contains { $0["Attachment.DeleteOnTermination"] == "true" && $0["Attachment.AttachmentId"] != nil })
        #expect(modifies.contains { $0["SourceDestCheck.Value"] == "false" })
        // Post-conditions moto keeps.
        let eni = try #require(try w.ours().first)
        #expect(eni.instanceID == w.instance && eni.deviceIndex == 1 && eni.subnetID == multus)
        #expect(eni.sourceDestCheck == false)
        #expect(eni.tags["node.k8s.amazonaws.com/no_manage"] == "true")
        // The link side: found by MAC, brought up, rp_filter set; networkd kept off it; a record written.
        let e = try #require(report.enis.first)
        #expect(e.id == eni.id && e.mac == eni.mac && e.actions.contains("created") && e.actions.contains("link up"))
        let linkState = try Shell.check(["cat", "/sys/class/net/\(e.linkName)/flags"])
        #expect((Int(linkState.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(2), radix: 16) ?? 0) & 1 == 1)
        #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/conf/\(e.linkName)/rp_filter", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        let dropIn = try String(contentsOfFile: "\(w.root)/etc/systemd/network/05-eni-multus-\(eni.id).network", encoding: .utf8)
        #expect(dropIn.contains("MACAddress=\(eni.mac)") && dropIn.contains("Unmanaged=yes"))
        #expect(FileManager.default.fileExists(atPath: "\(w.root)/var/lib/eni-multus-node/enis/\(eni.id)"))
        // Limits: m5.xlarge 4 ENIs × 15 IPv4; one unmanaged → 3 × 14 + 2.
        #expect(report.limits.vpcCNIMaxPods == 44 && report.limits.vpcCNIMaxPodsWithoutMultus == 58)

        // Rerun: read-only on EC2, nothing changes.
        try w.emu.resetCounts()
        let again = try Attacher(w.context(w.config([SubnetSpec(.id(multus))], sgs: [sg]))).run()
        #expect(try w.mutatingCounts().isEmpty, "\((try? w.emu.counts()) ?? [:])")
        #expect(!again.changed && again.enis.map(\.id) == [eni.id])
        #expect(try w.ours().count == 1)

        // Status: ours, attached, no drift.
        let st = try StatusReader(w.context(w.config([SubnetSpec(.id(multus))], sgs: [sg]))).run()
        #expect(!st.hasDrift, "\(st.human)")
        #expect(st.enis.first { $0.id == eni.id }?.ownership == .eniMultus)
        #expect(st.json["enis"]?.arrayValue?.count == 2)
    }

    @Test func attachFailureDeletesTheCreatedENI() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode())
        defer { w.close() }
        try w.emu.fault(action: "AttachNetworkInterface", mode: "error", status: 400, code: "AttachmentLimitExceeded",
                        message: "Interface count 4 exceeds the limit for m5.xlarge")
        let multus = try w.subnet("multus-us-east-1a")
        #expect(throws: NodeError.self) {
            try Attacher(w.context(w.config([SubnetSpec(.id(multus))]))).run()
        }
        let counts = try w.emu.counts()
        #expect(counts["CreateNetworkInterface"] == 1 && counts["DeleteNetworkInterface"] == 1)
        #expect(counts["AttachNetworkInterface"] == 1, "AttachmentLimitExceeded is not retried")
        #expect(try w.ours().isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(w.root)/etc/systemd/network")) ?? []).isEmpty)
    }

    @Test(arguments: [false, true])
    func twoSubnetsWithOneOrTwoSecurityGroupLists(perSubnet: Bool) throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(subnets: [
            ["name": "nodes-us-east-1a", "cidr": "10.0.0.0/24", "az": "us-east-1a"],
            ["name": "storage-a", "cidr": "10.0.100.0/24", "az": "us-east-1a", "tags": ["role": "storage"]],
            ["name": "replication-a", "cidr": "10.0.110.0/24", "az": "us-east-1a", "tags": ["role": "replication"]],
        ]))
        defer { w.close() }
        let a = try w.sg("multus"), b = try w.sg("nodes")
        let specs = perSubnet
            ? [SubnetSpec(.tags(["role": "storage"]), securityGroups: [a]), SubnetSpec(.tags(["role": "replication"]), securityGroups: [b])]
            : [SubnetSpec(.tags(["role": "storage"])), SubnetSpec(.tags(["role": "replication"]))]
        let report = try Attacher(w.context(w.config(specs, sgs: perSubnet ? [] : [a]))).run()
        #expect(report.enis.map(\.deviceIndex) == [1, 2])
        let creates = try w.params("CreateNetworkInterface")
        #expect(creates.map { $0["SubnetId"] } == [try w.subnet("storage-a"), try w.subnet("replication-a")])
        #expect(creates.map { $0["SecurityGroupId.1"] } == (perSubnet ? [a, b] : [a, a]))
        #expect(creates.allSatisfy { $0["SecurityGroupId.2"] == nil })
        #expect(try w.ours().count == 2)
        try w.emu.resetCounts()
        _ = try Attacher(w.context(w.config(specs, sgs: perSubnet ? [] : [a]))).run()
        #expect(try w.mutatingCounts().isEmpty)
    }

    @Test func perAZSelectionPicksThisNodesSubnet() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(az: "us-east-1b"))
        defer { w.close() }
        let ma = try w.subnet("multus-us-east-1a"), mb = try w.subnet("multus-us-east-1b")
        // One list of ids for a multi-AZ node group, and a tag selector (the scenario tags subnets Name=…).
        let byIDs = try Attacher(w.context(w.config([SubnetSpec(.ids([ma, mb]))]))).run()
        #expect(byIDs.enis.map(\.subnetID) == [mb])
        #expect(byIDs.availabilityZone == "us-east-1b")
        // A single subnet of another AZ is refused before any mutation.
        try w.emu.resetCounts()
        #expect(throws: NodeError.self) { try Attacher(w.context(w.config([SubnetSpec(.id(ma))]))).run() }
        #expect(try w.mutatingCounts().isEmpty)
        let byTag = try w.subnet("nodes-us-east-1b")
        let both = try Attacher(w.context(w.config([SubnetSpec(.ids([ma, mb])), SubnetSpec(.tags(["Name": "nodes-us-east-1b"]))]))).run()
        #expect(both.enis.map(\.subnetID) == [mb, byTag])
        #expect(both.enis[0].actions.isEmpty && both.enis[1].actions.contains("created"), "\(both.enis.map(\.actions))")
    }

    @Test func throttlingThroughTheFaultProxyIsRetried() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode())
        defer { w.close() }
        try w.emu.fault(mode: "throttle", every: 2)
        let multus = try w.subnet("multus-us-east-1a")
        let report = try Attacher(w.context(w.config([SubnetSpec(.id(multus))]), env: ["AWS_MAX_ATTEMPTS": "5"])).run()
        #expect(report.enis.count == 1)
        let throttled = try w.emu.requests().filter { ($0["fault"] as? String) != nil }
        #expect(throttled.count >= 3, "every second call was throttled and retried")
        #expect(try w.ours().count == 1, "retries did not create a second ENI")
        #expect(try w.ours().first?.instanceID == w.instance)
    }

    @Test func detachAndCleanupRemoveOnlyOurs() throws {
        let noManage = "node.k8s.amazonaws.com/no_manage"
        let w = try NodeWorld(Self.emulator, scenario: bareNode(
            // In a subnet that is not configured: one in the multus subnet would make attach refuse (or adopt it).
            extraENIs: [["name": "seed", "deviceIndex": 1, "subnet": "nodes-us-east-1a", "tags": [noManage: "true"]]],
            unattached: [
                ["name": "leftover", "tags": [noManage: "true", "eni-multus.io/cluster": "demo", "eni-multus.io/node": "i-0gone"]],
                ["name": "otherCluster", "tags": [noManage: "true", "eni-multus.io/cluster": "prod", "eni-multus.io/node": "i-0gone"]],
                ["name": "clusterTagOnly", "tags": ["eni-multus.io/cluster": "demo"]],
                ["name": "plain"],
            ]))
        defer { w.close() }
        let enis = try #require(w.world["enis"] as? [String: [String: Any]])
        func id(_ n: String) throws -> String { try #require(enis[n]?["id"] as? String) }
        let multus = try w.subnet("multus-us-east-1a")
        let report = try Attacher(w.context(w.config([SubnetSpec(.id(multus))]))).run()
        let mine = try #require(report.enis.first?.id)
        #expect(report.enis.first?.deviceIndex == 2, "device 1 is taken by the seed's ENI")
        #expect(report.limits.unmanagedOnDefaultCard == 2)

        try w.emu.resetCounts()
        let detached = try Detacher(w.context(w.config([]))).detachNode()
        #expect(detached == [mine])
        #expect(try w.emu.counts()["DetachNetworkInterface"] == 1 && w.emu.counts()["DeleteNetworkInterface"] == 1)
        let afterDetach = try w.emu.enis()
        #expect(afterDetach[mine] == nil)
        #expect(afterDetach[try id("seed")]?.instanceID == w.instance, "a foreign no_manage ENI stays attached")
        #expect(!FileManager.default.fileExists(atPath: "\(w.root)/etc/systemd/network/05-eni-multus-\(mine).network"))

        let cleaned = try Detacher(w.context(w.config([]))).cleanupCluster()
        #expect(cleaned == [try id("leftover")])
        let after = try w.emu.enis()
        for kept in ["seed", "otherCluster", "clusterTagOnly", "plain"] {
            #expect(after[try id(kept)] != nil, "\(kept) must survive")
        }
        #expect(try w.params("DeleteNetworkInterface").compactMap { $0["NetworkInterfaceId"] }.sorted()
            == [mine, try id("leftover")].sorted())
    }
}

extension HostNodeAgentEC2Tests {
    /// The built `eni-multus-node` next to the test bundle.
    static var binary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("eni-multus-node").path
    }

    @Test func commandLineBindsTheSameCore() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "seed", "deviceIndex": 1, "tags": ["node.k8s.amazonaws.com/no_manage": "true"]],
        ]))
        defer { w.close() }
        let bin = Self.binary
        try #require(FileManager.default.isExecutableFile(atPath: bin), "\(bin)")
        let env = w.emu.environment
        let status = Shell.run([bin, "status", "--cluster", "demo", "--json", "--host-root", w.root], env: env, timeout: 60)
        #expect(status.status == 0, "\(status.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(j["instanceId"] as? String == w.instance)
        let enis = try #require(j["enis"] as? [[String: Any]])
        #expect(enis.map { $0["ownership"] as? String } == ["primary", "other-unmanaged"])
        #expect((j["limits"] as? [String: Any])?["vpcCNIMaxPods"] as? Int == 44)
        #expect(try w.mutatingCounts().isEmpty, "status is read-only")
        let human = Shell.run([bin, "status", "--cluster", "demo", "--host-root", w.root], env: env, timeout: 60)
        #expect(human.status == 0 && human.stdout.contains("other-unmanaged") && human.stdout.contains("max pods 44"))
        // Bad configuration: exit 2 and one error line, no EC2 call.
        try w.emu.resetCounts()
        let bad = Shell.run([bin, "attach", "--cluster", "demo", "--subnet", "eth1", "--host-root", w.root], env: env, timeout: 60)
        #expect(bad.status == 2 && bad.stderr.contains("error: configuration"), "\(bad)")
        #expect(try w.emu.counts().isEmpty)
    }
}

extension HostNodeAgentEC2Tests {
    @Test("reconcile --once: unowned addresses on the plugin's ENI go, owned ones and foreign ENIs stay")
    func reconcileCommand() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "multus", "deviceIndex": 1, "tags": ["node.k8s.amazonaws.com/no_manage": "true"], "secondaryIps": 2],
            ["name": "other", "deviceIndex": 2, "tags": ["node.k8s.amazonaws.com/no_manage": "true"], "secondaryIps": 1],
        ]))
        defer { w.close() }
        let enis = try w.emu.enis()
        let multus = try #require(enis.values.first { $0.instanceID == w.instance && $0.deviceIndex == 1 })
        let other = try #require(enis.values.first { $0.instanceID == w.instance && $0.deviceIndex == 2 })
        let secondaries = Array(multus.privateIps.dropFirst())
        try #require(secondaries.count == 2)
        // The plugin's state: one network whose ledger owns the first secondary address on the multus ENI.
        let data = w.root + "/var/lib/cni/eni-multus"
        try FileManager.default.createDirectory(atPath: data + "/net1/ec2/ledger", withIntermediateDirectories: true)
        try "eni=\(multus.id)\nip=\(secondaries[0])\n".write(toFile: data + "/net1/ec2/ledger/c1:net1", atomically: true, encoding: .utf8)
        let bin = Self.binary
        func pass(_ grace: String) -> ShellResult {
            Shell.run([bin, "reconcile", "--once", "--grace-seconds", grace, "--host-root", w.root, "--cluster", "demo"],
                      env: w.emu.environment, timeout: 60)
        }
        let first = pass("3600")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("leaked=1") && first.stdout.contains("released=0"), "\(first.stdout)")
        #expect(try w.emu.enis()[multus.id]?.privateIps.count == 3, "inside the grace period nothing is released")
        let second = pass("0")
        #expect(second.status == 0 && second.stdout.contains("released=1"), "\(second.stdout)\(second.stderr)")
        let after = try w.emu.enis()
        #expect(after[multus.id]?.privateIps == [multus.privateIps[0], secondaries[0]])
        #expect(after[other.id]?.privateIps == other.privateIps, "an ENI the plugin does not use is never touched")
    }
}

/// `attach --adopt`: the seed template's ENI (attached here, no_manage, none of our tags) is tagged
/// for this cluster and node instead of a second ENI being created; without the flag attach refuses next to it.
extension HostNodeAgentEC2Tests {
    static let noManage = "node.k8s.amazonaws.com/no_manage"

    static func tags(_ params: [String: String], prefix: String) -> [String: String] {
        Dictionary(uniqueKeysWithValues: (1...10).compactMap { i in
            params["\(prefix).\(i).Key"].map { ($0, params["\(prefix).\(i).Value"] ?? "") }
        })
    }

    @Test func adoptTagsTheSeedsENIInsteadOfCreatingASecond() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "seed", "deviceIndex": 1, "tags": [Self.noManage: "true"]],
        ]))
        defer { w.close() }
        let seed = try #require((w.world["enis"] as? [String: [String: Any]])?["seed"]?["id"] as? String)
        let multus = try w.subnet("multus-us-east-1a")
        var cfg = w.config([SubnetSpec(.id(multus))])
        cfg.adopt = true
        let report = try Attacher(w.context(cfg)).run()

        // Exactly one CreateTags, on the seed's ENI, with our two tags; nothing created or attached.
        #expect(try w.mutatingCounts() == ["CreateTags": 1, "ModifyNetworkInterfaceAttribute": 2], "\((try? w.emu.counts()) ?? [:])")
        let tagging = try #require(try w.params("CreateTags").first)
        #expect(tagging["ResourceId.1"] == seed && tagging["ResourceId.2"] == nil)
        #expect(Self.tags(tagging, prefix: "Tag") == ["eni-multus.io/cluster": "demo", "eni-multus.io/node": w.instance])
        let modifies = try w.params("ModifyNetworkInterfaceAttribute")
        #expect(modifies.allSatisfy { $0["NetworkInterfaceId"] == seed })
        #expect(modifies.contains { $0["Attachment.DeleteOnTermination"] == "true" })
        #expect(modifies.contains { $0["SourceDestCheck.Value"] == "false" })
        let after = try #require(try w.emu.enis()[seed])
        #expect(after.tags == [Self.noManage: "true", "eni-multus.io/cluster": "demo", "eni-multus.io/node": w.instance])
        #expect(after.instanceID == w.instance && after.deviceIndex == 1 && after.sourceDestCheck == false)
        #expect(try w.ours().map(\.id) == [seed])

        // The link: found by its MAC, brought up, rp_filter set; drop-in and record written.
        let e = try #require(report.enis.first)
        #expect(report.enis.count == 1 && e.id == seed && e.mac == after.mac && e.deviceIndex == 1)
        #expect(e.actions.contains("adopted") && !e.actions.contains("created") && !e.actions.contains("attached"), "\(e.actions)")
        #expect(e.actions.contains("link up"))
        #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/conf/\(e.linkName)/rp_filter", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(FileManager.default.fileExists(atPath: "\(w.root)/etc/systemd/network/05-eni-multus-\(seed).network"))
        #expect(FileManager.default.fileExists(atPath: "\(w.root)/var/lib/eni-multus-node/enis/\(seed)"))
        #expect(report.limits.unmanagedOnDefaultCard == 1, "one ENI for the VPC CNI to lose, not two")

        // Rerun, with adopt off: the ENI is this node's now; nothing mutating.
        try w.emu.resetCounts()
        let again = try Attacher(w.context(w.config([SubnetSpec(.id(multus))]))).run()
        #expect(try w.mutatingCounts().isEmpty, "\((try? w.emu.counts()) ?? [:])")
        #expect(!again.changed && again.enis.map(\.id) == [seed])
        let st = try StatusReader(w.context(w.config([SubnetSpec(.id(multus))]))).run()
        #expect(st.enis.first { $0.id == seed }?.ownership == .eniMultus)

        // detach treats an adopted ENI as any of ours: detached and deleted.
        let deleted = try Detacher(w.context(w.config([]))).detachNode()
        #expect(deleted == [seed])
        #expect(try w.emu.enis()[seed] == nil)
    }

    @Test func withoutAdoptAttachRefusesNextToTheSeedsENI() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "seed", "deviceIndex": 1, "tags": [Self.noManage: "true"]],
        ]))
        defer { w.close() }
        let seed = try #require((w.world["enis"] as? [String: [String: Any]])?["seed"]?["id"] as? String)
        let multus = try w.subnet("multus-us-east-1a")
        var message = ""
        do {
            _ = try Attacher(w.context(w.config([SubnetSpec(.id(multus))]))).run()
            Issue.record("attach created a second ENI next to the seed's")
        } catch {
            message = "\(error)"
            if case .state = error {} else { Issue.record("expected a state error: \(error)") }
        }
        #expect(message.contains(seed) && message.contains("--adopt") && message.contains(multus), "\(message)")
        #expect(try w.mutatingCounts().isEmpty, "refused before any mutation")
        #expect(try w.ours().isEmpty)
        #expect(try w.emu.enis()[seed]?.tags == [Self.noManage: "true"])
    }

    /// ENIs that are never adopted: each stays as it was, and attach creates this node's own ENI (adopt on or off;
    /// none of them blocks attach either).
    @Test(arguments: ["otherCluster", "otherNode", "nodeTagOnly", "vpcCNI", "primary", "otherInstance", "unconfiguredSubnet"],
          [true, false])
    func neverAdopted(_ kind: String, adopt: Bool) throws {
        let nm = Self.noManage
        var node1ENIs: [[String: Any]] = []
        var node2ENIs: [[String: Any]]? = nil
        var configured = "multus-us-east-1a"
        switch kind {
        case "otherCluster":
            node1ENIs = [["name": "foreign", "deviceIndex": 1,
                          "tags": [nm: "true", "eni-multus.io/cluster": "prod", "eni-multus.io/node": "i-0123456789abcdef0"]]]
        case "otherNode":
            node1ENIs = [["name": "foreign", "deviceIndex": 1,
                          "tags": [nm: "true", "eni-multus.io/cluster": "demo", "eni-multus.io/node": "i-0123456789abcdef0"]]]
        case "nodeTagOnly":
            node1ENIs = [["name": "foreign", "deviceIndex": 1, "tags": [nm: "true", "eni-multus.io/node": "i-0123456789abcdef0"]]]
        case "vpcCNI":
            node1ENIs = [["name": "foreign", "deviceIndex": 1]]
        case "primary":
            configured = "nodes-us-east-1a"
        case "otherInstance":
            node2ENIs = [["name": "foreign", "deviceIndex": 1, "tags": [nm: "true"]]]
        case "unconfiguredSubnet":
            node1ENIs = [["name": "foreign", "deviceIndex": 1, "subnet": "nodes-us-east-1a", "tags": [nm: "true"]]]
        default:
            Issue.record("unknown case \(kind)")
            return
        }
        var scenario = bareNode(extraENIs: node1ENIs)
        if let node2ENIs {
            scenario["instances"] = [
                ["name": "node1", "type": "m5.xlarge", "subnet": "nodes-us-east-1a", "enis": []],
                ["name": "node2", "type": "m5.xlarge", "subnet": "nodes-us-east-1a", "enis": node2ENIs],
            ]
        }
        let w = try NodeWorld(Self.emulator, scenario: scenario)
        defer { w.close() }
        var cfg = w.config([SubnetSpec(.id(try w.subnet(configured)))])
        cfg.adopt = adopt
        let foreign: String
        if kind == "primary" {
            // The primary ENI, tagged no_manage as a seed ENI would be, in the configured subnet.
            let insts = try #require(w.world["instances"] as? [String: [String: Any]])
            foreign = try #require((insts["node1"]?["enis"] as? [String: [String: Any]])?["primary"]?["id"] as? String)
            try w.context(cfg).openSession().ec2.createTags(resourceIDs: [foreign], tags: [EC2Tag(nm, "true")])
            try w.emu.resetCounts()
        } else {
            foreign = try #require((w.world["enis"] as? [String: [String: Any]])?["foreign"]?["id"] as? String)
        }
        let before = try #require(try w.emu.enis()[foreign])

        let report = try Attacher(w.context(cfg)).run()
        let counts = try w.emu.counts()
        #expect(counts["CreateTags"] == nil, "\(kind): \(counts)")
        #expect(counts["CreateNetworkInterface"] == 1, "\(kind): \(counts)")
        #expect(try w.params("ModifyNetworkInterfaceAttribute").allSatisfy { $0["NetworkInterfaceId"] != foreign })
        let e = try #require(report.enis.first)
        #expect(report.enis.count == 1 && e.id != foreign && e.actions.contains("created") && !e.actions.contains("adopted"))
        let after = try #require(try w.emu.enis()[foreign])
        #expect(after.tags == before.tags && after.instanceID == before.instanceID && after.deviceIndex == before.deviceIndex,
                "\(kind): \(after)")
    }
}

extension HostNodeAgentEC2Tests {
    /// `--adopt`, `--no-adopt` and config `"adopt"` reach the core through the built binary (the link is the
    /// test's veth carrying the seed ENI's MAC, made before the run: the binary uses live netlink).
    @Test func commandLineAdoptFlagAndConfigKey() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "seed", "deviceIndex": 1, "tags": [Self.noManage: "true"]],
        ]))
        defer { w.close() }
        let bin = Self.binary
        try #require(FileManager.default.isExecutableFile(atPath: bin), "\(bin)")
        let seed = try #require(try w.emu.enis().values.first { $0.instanceID == w.instance && $0.deviceIndex == 1 })
        _ = try #require(try w.links.link(mac: seed.mac))
        let multus = try w.subnet("multus-us-east-1a")
        let config = w.root + "/config.json"
        try #"{"clusterName": "demo", "subnets": ["\#(multus)"], "adopt": true, "linkTimeoutSeconds": 10}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let env = w.emu.environment
        func attach(_ args: [String]) -> ShellResult {
            Shell.run([bin, "attach", "--host-root", w.root, "--json"] + args, env: env, timeout: 120)
        }

        let plain = attach(["--cluster", "demo", "--subnet", multus])
        #expect(plain.status == 1 && plain.stderr.contains(seed.id) && plain.stderr.contains("--adopt"), "\(plain)")
        let overridden = attach(["--config", config, "--no-adopt"])
        #expect(overridden.status == 1 && overridden.stderr.contains("--adopt"), "\(overridden)")
        #expect(try w.mutatingCounts().isEmpty)

        let adopted = attach(["--config", config])
        #expect(adopted.status == 0, "\(adopted)")
        #expect(adopted.stdout.contains(seed.id) && adopted.stdout.contains("adopted"), "\(adopted.stdout)")
        #expect(try w.emu.counts()["CreateTags"] == 1 && w.emu.counts()["CreateNetworkInterface"] == nil)
        #expect(try w.emu.enis()[seed.id]?.tags["eni-multus.io/node"] == w.instance)
    }
}

extension HostNodeAgentEC2Tests {
    /// One ENI per configured subnet: of two seed ENIs in it, the lower device index is adopted, the other untouched.
    @Test func adoptTakesOneENIPerConfiguredSubnet() throws {
        let w = try NodeWorld(Self.emulator, scenario: bareNode(extraENIs: [
            ["name": "second", "deviceIndex": 2, "tags": [Self.noManage: "true"]],
            ["name": "first", "deviceIndex": 1, "tags": [Self.noManage: "true"]],
        ]))
        defer { w.close() }
        let enis = try #require(w.world["enis"] as? [String: [String: Any]])
        let first = try #require(enis["first"]?["id"] as? String), second = try #require(enis["second"]?["id"] as? String)
        var cfg = w.config([SubnetSpec(.id(try w.subnet("multus-us-east-1a")))])
        cfg.adopt = true
        let report = try Attacher(w.context(cfg)).run()
        #expect(report.enis.map(\.id) == [first])
        #expect(try w.params("CreateTags").map { $0["ResourceId.1"] } == [first])
        #expect(try w.emu.counts()["CreateNetworkInterface"] == nil)
        #expect(try w.emu.enis()[second]?.tags == [Self.noManage: "true"])
    }
}
