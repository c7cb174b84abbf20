import Foundation
import Testing
import AWS
import NodeAgent

@Suite struct UnitNodeAgentTests {
    @Test func configParsesEveryForm() throws {
        let c = try NodeConfig.parse("""
            {"clusterName": "demo", "securityGroups": ["sg-1"], "sourceDestCheck": false, "rpFilter": 2,
             "subnets": ["subnet-0aaaaaaa", {"ids": ["subnet-0bbbbbbb", "subnet-0ccccccc"], "securityGroups": ["sg-2"]},
                         {"tags": {"role": "multus"}}],
             "extraTags": {"team": "net"}, "networkd": false, "linkTimeoutSeconds": 5}
            """)
        try c.validate(needsSubnets: true)
        #expect(c.subnets.map(\.selector) == [.id("subnet-0aaaaaaa"), .ids(["subnet-0bbbbbbb", "subnet-0ccccccc"]),
                                              .tags(["role": "multus"])])
        #expect(c.securityGroups(for: c.subnets[0]) == ["sg-1"])
        #expect(c.securityGroups(for: c.subnets[1]) == ["sg-2"])
        #expect(c.sourceDestCheck == false && c.rpFilter == 2 && c.networkd == false && c.linkTimeoutSeconds == 5)
        #expect(try SubnetSelector.parse("tag:a=b,tag:c=d") == .tags(["a": "b", "c": "d"]))
        #expect(try SubnetSelector.parse("subnet-0aaaaaaa|subnet-0bbbbbbb") == .ids(["subnet-0aaaaaaa", "subnet-0bbbbbbb"]))
    }

    @Test func adoptIsAConfigKeyOffByDefault() throws {
        #expect(try NodeConfig.parse(#"{"clusterName": "demo"}"#).adopt == false)
        #expect(NodeConfig().adopt == false)
        #expect(try NodeConfig.parse(#"{"clusterName": "demo", "adopt": true}"#).adopt == true)
        #expect(try NodeConfig.parse(#"{"clusterName": "demo", "adopt": false}"#).adopt == false)
    }

    @Test(arguments: [
        #"{"clusterName": "demo", "subnet": []}"#,
        #"{"clusterName": "demo", "subnets": [{"id": "subnet-0aaaaaaa", "tags": {"a": "b"}}]}"#,
        #"{"clusterName": "demo", "subnets": ["eth1"]}"#,
        #"{"clusterName": "demo", "subnets": [{"ids": []}]}"#,
        #"{"clusterName": "demo", "rpFilter": "loose"}"#,
        #"{"clusterName": "demo", "adopt": "yes"}"#,
        #"{"clusterName": "demo", "adopt": 1}"#,
        #"{"clusterName": "demo", "adpot": true}"#,
        #"[]"#,
    ])
    func badConfigIsRefused(text: String) {
        #expect(throws: NodeError.self) { _ = try NodeConfig.parse(text) }
    }

    @Test func validationNamesWhatIsWrong() throws {
        /// The configuration error `validate` throws, and that it names `what` (the field and the bad value).
        func names(_ c: NodeConfig, needsSubnets: Bool, _ what: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            do throws(NodeError) {
                try c.validate(needsSubnets: needsSubnets)
                Issue.record("validated, expected an error naming \(what)", sourceLocation: sourceLocation)
            } catch {
                guard case .config(let text) = error else {
                    Issue.record("not a configuration error: \(error)", sourceLocation: sourceLocation); return
                }
                for w in what { #expect(text.contains(w), "\"\(text)\" does not name \(w)", sourceLocation: sourceLocation) }
            }
        }
        names(NodeConfig(clusterName: "", subnets: [SubnetSpec(.id("subnet-0aaaaaaa"))]), needsSubnets: true, ["clusterName"])
        names(NodeConfig(clusterName: "demo"), needsSubnets: true, ["subnets"])
        names(NodeConfig(clusterName: "demo", rpFilter: 3), needsSubnets: false, ["rpFilter", "3"])
        names(NodeConfig(clusterName: "demo", securityGroups: ["default"]), needsSubnets: false, ["\"default\"", "security group"])
        names(NodeConfig(clusterName: "demo", extraTags: ["eni-multus.io/node": "x"]), needsSubnets: false, ["extraTags", "eni-multus.io/node"])
        try NodeConfig(clusterName: "demo").validate(needsSubnets: false)
    }

    static func eni(_ id: String, card: Int = 0, dev: Int, noManage: Bool = false) -> NetworkInterface {
        NetworkInterface(id: id, attachment: NetworkInterfaceAttachment(id: "a-\(id)", deviceIndex: dev, networkCardIndex: card),
                         tags: noManage ? ["node.k8s.amazonaws.com/no_manage": "true"] : [:])
    }

    @Test func maxPodsFollowsTheVPCCNIFormula() {
        let m5 = InstanceTypeInfo(instanceType: "m5.large", maximumNetworkInterfaces: 3, ipv4AddressesPerInterface: 10,
                                  ipv6AddressesPerInterface: 10, ipv6Supported: true)
        let none = NodeLimits(info: m5, attached: [Self.eni("p", dev: 0)])
        #expect(none.vpcCNIMaxPods == 29 && none.enisForVPCCNI == 3)
        let one = NodeLimits(info: m5, attached: [Self.eni("p", dev: 0), Self.eni("m", dev: 1, noManage: true)])
        #expect(one.vpcCNIMaxPods == 20 && one.vpcCNIMaxPodsWithoutMultus == 29)
        #expect(NodeLimits.maxPods(enis: 0, ipv4PerENI: 10) == 2)
    }

    @Test func placementTakesTheLowestFreeDeviceIndex() throws {
        let m5 = InstanceTypeInfo(instanceType: "m5.xlarge", maximumNetworkInterfaces: 4, ipv4AddressesPerInterface: 15,
                                  ipv6AddressesPerInterface: 15, ipv6Supported: true)
        let attached = [Self.eni("p", dev: 0), Self.eni("b", dev: 2)]
        let p = try PlacementPolicy.next(info: m5, attached: attached)
        #expect(p == Placement(networkCard: 0, deviceIndex: 1, sendsNetworkCard: false))
        let q = try PlacementPolicy.next(info: m5, attached: attached, planned: [p])
        #expect(q.deviceIndex == 3)
        #expect(throws: NodeError.self) { try PlacementPolicy.next(info: m5, attached: attached, planned: [p, q]) }
    }

    @Test func multiCardTypesPreferANonDefaultCard() throws {
        let p5 = InstanceTypeInfo(instanceType: "c6in.32xlarge", maximumNetworkInterfaces: 16, ipv4AddressesPerInterface: 50,
                                  ipv6AddressesPerInterface: 50, ipv6Supported: true, maximumNetworkCards: 2,
                                  defaultNetworkCardIndex: 0,
                                  networkCards: [NetworkCard(index: 0, maximumNetworkInterfaces: 8),
                                                 NetworkCard(index: 1, maximumNetworkInterfaces: 8)])
        let p = try PlacementPolicy.next(info: p5, attached: [Self.eni("p", dev: 0)])
        #expect(p == Placement(networkCard: 1, deviceIndex: 1, sendsNetworkCard: true))
        let limits = NodeLimits(info: p5, attached: [Self.eni("p", dev: 0), Self.eni("m", card: 1, dev: 1, noManage: true)])
        #expect(limits.enisForVPCCNI == 8 && limits.vpcCNIMaxPods == 8 * 49 + 2, "a multus ENI on card 1 costs the VPC CNI nothing")
    }

    @Test func networkdDropInMatchesByMACAndSortsFirst() throws {
        let text = NetworkdDropIn.render(eniID: "eni-1", mac: "02:AA:BB:CC:DD:EE", cluster: "demo")
        #expect(text.contains("[Match]\nMACAddress=02:aa:bb:cc:dd:ee\n") && text.contains("[Link]\nUnmanaged=yes\n"))
        #expect(NetworkdDropIn.fileName(eniID: "eni-1") < "70-ens6.network")
        let root = NSTemporaryDirectory() + "/nodeagent-unit-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let paths = NodePaths(hostRoot: root)
        #expect(try NetworkdDropIn.write(paths: paths, eniID: "eni-1", mac: "02:aa:bb:cc:dd:ee", cluster: "demo"))
        #expect(try !NetworkdDropIn.write(paths: paths, eniID: "eni-1", mac: "02:aa:bb:cc:dd:ee", cluster: "demo"))
        #expect(FileManager.default.fileExists(atPath: root + "/etc/systemd/network/05-eni-multus-eni-1.network"))
        #expect(try NetworkdDropIn.remove(paths: paths, eniID: "eni-1"))
        #expect(try !NetworkdDropIn.remove(paths: paths, eniID: "eni-1"))
    }

    @Test func installCopiesAtomicallyWithMode0755AndIsIdempotent() throws {
        let root = NSTemporaryDirectory() + "/nodeagent-install-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/img", withIntermediateDirectories: true)
        let bin = [UInt8]([0x7f, 0x45, 0x4c, 0x46]) + Array("plugin-v1".utf8)
        try Data(bin).write(to: URL(fileURLWithPath: root + "/img/eni-multus"))
        try Data(#"{"cniVersion":"1.0.0","name":"n","type":"eni-multus"}"#.utf8).write(to: URL(fileURLWithPath: root + "/img/10-n.conf"))
        var logs: [String] = []
        let inst = Installer(paths: NodePaths(hostRoot: root + "/host"), log: { logs.append($0) })
        let r = try inst.install(source: root + "/img/eni-multus", binDir: "/opt/cni/bin",
                                 confSource: root + "/img/10-n.conf", confDir: "/etc/cni/net.d")
        #expect(r.binaryChanged && r.confChanged)
        let dest = root + "/host/opt/cni/bin/eni-multus"
        #expect(try Data(contentsOf: URL(fileURLWithPath: dest)) == Data(bin))
        let mode = try FileManager.default.attributesOfItem(atPath: dest)[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/host/opt/cni/bin") == ["eni-multus"], "no temp file left")
        #expect(FileManager.default.fileExists(atPath: root + "/host/etc/cni/net.d/10-n.conf"))
        let again = try inst.install(source: root + "/img/eni-multus", binDir: "/opt/cni/bin",
                                     confSource: root + "/img/10-n.conf", confDir: "/etc/cni/net.d")
        #expect(!again.binaryChanged && !again.confChanged)
        // A new version replaces the old one.
        try Data(bin + [1]).write(to: URL(fileURLWithPath: root + "/img/eni-multus"))
        #expect(try inst.install(source: root + "/img/eni-multus", binDir: "/opt/cni/bin").binaryChanged)
        // Not an executable: refused, nothing written.
        try Data("#!/bin/sh".utf8).write(to: URL(fileURLWithPath: root + "/img/script"))
        #expect(throws: NodeError.self) { _ = try inst.install(source: root + "/img/script", binDir: "/opt/cni/bin") }
    }
}
