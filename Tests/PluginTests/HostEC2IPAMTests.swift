import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import IPAM
import NetTypes
import TestSupport
import NodeState

/// The EC2-native IPAM modes against moto + the IMDSv2 emulator (its address model: subnet-wide free-address
/// choice, "in use" errors, /28 and /80 prefixes, per-ENI limits), through the real AWS layer. Only the IPAM half
/// of ADD/DEL runs (links are covered by the registration tests); EC2 calls are counted at the fault proxy.
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct HostEC2IPAMTests {
    static let emulator = Result { try EC2Emulator() }

    struct Nodes {
        let emu: EC2Emulator
        let eni1: String, eni2: String, subnet: String
        let imds1: String, imds2: String
    }

    /// Two instances, each with a tagged multus ENI in the same subnet.
    func twoNodes() throws -> Nodes {
        let emu = try Self.emulator.get()
        try emu.clearFaults()
        let tag = [NodeTags.noManage: "true"]
        let w = try emu.scenario(["instances": [
            ["name": "node1", "enis": [["name": "m1", "deviceIndex": 1, "tags": tag]]],
            ["name": "node2", "enis": [["name": "m2", "deviceIndex": 1, "tags": tag]]],
        ]])
        let enis = try #require(w["enis"] as? [String: [String: Any]])
        let inst = try #require(w["instances"] as? [String: [String: Any]])
        try emu.resetCounts()
        return Nodes(emu: emu, eni1: try #require(enis["m1"]?["id"] as? String), eni2: try #require(enis["m2"]?["id"] as? String),
                     subnet: try #require(enis["m1"]?["subnetId"] as? String),
                     imds1: try #require(inst["node1"]?["imds"] as? String), imds2: try #require(inst["node2"]?["imds"] as? String))
    }

    func world(_ n: Nodes, node: Int, ipam: String) -> IPAMWorld {
        var vars = n.emu.environment
        vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = node == 1 ? n.imds1 : n.imds2
        return IPAMWorld(ipam, aws: vars, eni: #"{"subnetId":"\#(n.subnet)"}"#)
    }

    func secondaries(_ n: Nodes, _ eni: String) throws -> Set<String> {
        let e = try #require(try n.emu.enis()[eni])
        return Set(e.privateIps.dropFirst() + e.ipv6s)
    }

    @Test("ec2 mode: two nodes on one subnet get distinct addresses; one EC2 call per ADD; DEL releases")
    func ec2TwoNodes() throws {
        let n = try twoNodes()
        let a = world(n, node: 1, ipam: #""mode":"ec2","cooldownSeconds":0"#)
        let b = world(n, node: 2, ipam: #""mode":"ec2","cooldownSeconds":0"#)
        var got: [String: String] = [:]
        for i in 0..<12 {
            let w = i % 2 == 0 ? a : b
            let ip = try w.add("c\(i)")[0]
            #expect(ip.length == 24)
            #expect(got.updateValue("c\(i)", forKey: ip.address.description) == nil, "\(ip) handed out twice")
        }
        let counts = try n.emu.counts()
        #expect(counts["AssignPrivateIpAddresses"] == 12)
        #expect(counts["DescribeNetworkInterfaces"] == 2, "one tag verification per node, then cached: \(counts)")
        // EC2's state equals the ledgers.
        #expect(try secondaries(n, n.eni1).union(secondaries(n, n.eni2)) == Set(got.keys))
        try n.emu.resetCounts()
        for i in 0..<12 { try (i % 2 == 0 ? a : b).del("c\(i)") }
        #expect(try n.emu.counts()["UnassignPrivateIpAddresses"] == 12)
        #expect(try secondaries(n, n.eni1).isEmpty && secondaries(n, n.eni2).isEmpty)
    }

    @Test("ec2 mode: dual-stack and a requested address; another node's address is refused")
    func ec2DualAndRequested() throws {
        let n = try twoNodes()
        let a = world(n, node: 1, ipam: #""mode":"ec2","families":["ipv4","ipv6"]"#)
        let ips = try a.add("d1")
        #expect(ips.map(\.length) == [24, 64])
        #expect(try secondaries(n, n.eni1) == Set(ips.map(\.address.description)))
        let held = try #require(ips.first?.address)
        let free = held.advanced(by: 50)
        #expect(try a.add("d2", args: "IP=\(free)").first?.address == free)
        // node2 asking for node1's address: EC2 says in use; the holder lacks our cluster tag: refused, untouched.
        let b = world(n, node: 2, ipam: #""mode":"ec2""#)
        let e = cniError(for: try b.failingAdd("d3", args: "IP=\(held)"))
        #expect(e.msg.contains(n.eni1), "\(e.msg)")
        #expect(try secondaries(n, n.eni1).contains(held.description))
        #expect(try secondaries(n, n.eni2).isEmpty)
    }

    @Test("prefix mode: 40 ADDs take 3 /28 prefixes in 3 assign calls; empty prefixes go back to EC2")
    func prefixMode() throws {
        let n = try twoNodes()
        let a = world(n, node: 1, ipam: #""mode":"prefix","cooldownSeconds":0,"prefixReleaseSeconds":0"#)
        var seen = Set<IPAddress>()
        for i in 0..<40 { seen.formUnion(try a.add("p\(i)").map(\.address)) }
        #expect(seen.count == 40)
        let counts = try n.emu.counts()
        #expect(counts["AssignPrivateIpAddresses"] == 3, "\(counts)")
        #expect(counts["DescribeInstanceTypes"] == 1 && counts["DescribeNetworkInterfaces"] == 1, "\(counts)")
        let prefixes = try #require(try n.emu.enis()[n.eni1]?.ipv4Prefixes).compactMap { IPPrefix($0) }
        #expect(prefixes.count == 3 && seen.allSatisfy { a in prefixes.contains { $0.contains(a) } })
        for i in 0..<40 { try a.del("p\(i)") }
        try a.gc(valid: [])
        #expect(try n.emu.enis()[n.eni1]?.ipv4Prefixes == [])
    }

    @Test("prefix mode: the ENI limit stops growth with a clear error; STATUS says so")
    func prefixLimit() throws {
        let n = try twoNodes()
        try n.emu.setLimits(ipv4PerENI: 2, ipv6PerENI: nil)  // the primary address + one /28
        let a = world(n, node: 1, ipam: #""mode":"prefix","cooldownSeconds":0"#)
        // The instance type's limit comes from DescribeInstanceTypes (moto: m5.large = 10): cache it lower.
        try FileIO.makeDirectories(a.dir)
        try FileIO.writeAtomically(a.dir + "/.instance-limits", Array("type=m5.large\nipv4=2\nipv6=10\n".utf8), .hint)
        for i in 0..<16 { try a.add("p\(i)") }
        let e = cniError(for: try a.failingAdd("p16"))
        #expect(e.code == 102 && e.msg.contains("no slot for another") && e.msg.contains("2 of 2"), "\(e.code) \(e.msg)")
        #expect(try a.unavailability()?.contains("full") == true)
    }

    @Test("GC and reconcile: leaked reservations and orphan assignments go; valid ones stay")
    func gcAndReconcile() throws {
        let n = try twoNodes()
        let a = world(n, node: 1, ipam: #""mode":"ec2","cooldownSeconds":0,"reconcileGraceSeconds":0"#)
        let live = try a.add("live")[0].address.description
        let leaked = try a.add("leaked")[0].address.description
        var vars = n.emu.environment
        vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = n.imds1
        let orphan = try AgentGateway(socket: try NodeAgentProcess.shared.agent(for: vars).socket, timeout: 10).assign(count: 1, v4: true, to: n.eni1)[0]
        #expect(try secondaries(n, n.eni1) == [live, leaked, orphan.description])
        try a.gc(valid: ["live"])
        #expect(try secondaries(n, n.eni1) == [live])
        #expect(try secondaries(n, n.eni2).isEmpty)
    }

    @Test("EC2 calls per 100 ADD+DEL, measured at the proxy (printed for the record)")
    func callsPer100() throws {
        let n = try twoNodes()
        for (label, ipam, cooldown) in [("ec2, cooldown 0", #""mode":"ec2","cooldownSeconds":0"#, false),
                                        ("ec2, cooldown 30", #""mode":"ec2""#, true),
                                        ("prefix, cooldown 30", #""mode":"prefix""#, true)] {
            try n.emu.resetCounts()
            let w = world(n, node: 1, ipam: ipam)
            for i in 0..<100 {
                try w.add("m\(i)")
                try w.del("m\(i)")
                if cooldown { w.clock += 1 }
            }
            w.clock += 60
            try w.gc(valid: [])
            let c = try n.emu.counts()
            let total = c.values.reduce(0, +)
            print("EC2 calls per 100 ADD+DEL, \(label): \(total) \(c.sorted { $0.key < $1.key })")
            let assigns = c["AssignPrivateIpAddresses"] ?? 0, unassigns = c["UnassignPrivateIpAddresses"] ?? 0
            switch label {
            case "ec2, cooldown 0": #expect(assigns == 100 && unassigns == 100, "one call per ADD and per DEL")
            case "ec2, cooldown 30": #expect(assigns == 100 && unassigns >= 1 && unassigns <= 15, "DEL releases are batched")
            default: #expect(assigns <= 7 && unassigns == 0, "at most one prefix per 16 ADDs")
            }
            #expect((c["DescribeNetworkInterfaces"] ?? 0) <= 2, "tag verified once per node, then cached")
        }
    }
}
