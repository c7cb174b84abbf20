#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ENIMultusCore
import JSON
import TestSupport

/// ipvlan with EC2 registration, on a kernel with ipvlan (inside user-mode Linux): the plugin reaches EC2 only
/// through the node agent (`eni-multus-node agent`, started beside the emulator), for every IPAM mode that
/// registers. The ipvlan slave is created on the node link that carries the ENI's MAC (found through IMDS), the
/// pod's addresses land on the ENI in EC2, CHECK passes, and DEL leaves nothing: no link, no state, no assignment.
@Suite(.tier(), .serialized)
struct KernelEC2Tests {
    static let emulator = Result { try EC2Emulator() }

    @Test("ipvlan + EC2 through the agent: ADD registers on the ENI, CHECK passes, DEL releases (every registering IPAM mode)",
          arguments: [CampaignMode.rangesENI, .ec2, .ec2Warm, .prefix])
    func ipvlanWithRegistration(mode: CampaignMode) throws {
        let emu = try Self.emulator.get()
        let ec2 = try CampaignEC2.make(emu)
        let dir = try makeTempDir("emt-kec2")
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        let node = try CampaignNode(tag: "k", mac: ec2.mac, dataDir: dir, ec2: ec2)
        defer { node.close() }
        // The campaign's config for the mode, with an ipvlan slave (l2) on the ENI found by its MAC.
        let conf = mode.conf(dataDir: dir, ec2: ec2, timeout: 30)
            .replacingOccurrences(of: #""link":"host-device""#, with: #""link":"ipvlan","mode":"l2""#)
        #expect(conf.contains(#""link":"ipvlan""#) && conf.contains(#""eni":{"id":"\#(ec2.eni)"}"#))

        let add = node.exec("ADD", conf: conf, containerID: "k1")
        #expect(add.status == 0, "\(add)")
        guard add.status == 0 else { return }
        let result = try JSON.parse(add.stdout)
        let address = try #require(result["ips"]?[0]?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        let held = try ec2.held()
        switch mode {
        case .prefix:
            #expect(held.prefixes.count == 1, "\(held)")
        default:
            #expect(held.addresses.contains(address), "\(address) on \(ec2.eni) in EC2: \(held)")
        }
        let links = node.links(in: node.pod)
        #expect(links.map(\.name) == ["net1"], "\(links.map(node.describe))")
        #expect(links.first?.hardwareAddress?.description == ec2.mac, "an ipvlan slave carries its master's MAC")
        #expect(node.addresses(in: node.pod, "net1").map { $0.address.description }.contains(address))

        let withPrev = try JSON.parse(conf).objectValue.map { o -> String in
            var o = o
            o["prevResult"] = result
            return JSON.object(o).serialized()
        } ?? conf
        let check = node.exec("CHECK", conf: withPrev, containerID: "k1")
        #expect(check.status == 0, "\(check)")
        let del = node.exec("DEL", conf: withPrev, containerID: "k1")
        #expect(del.status == 0, "\(del)")
        #expect(node.links(in: node.pod).isEmpty)
        #expect(node.allLeaks().isEmpty, "\(node.allLeaks())")
    }
}

/// ipvlan + EC2 end to end inside the UML kernel (the emulator runs there too, on UML's loopback).
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct KernelEC2IPVlanTests {
    static let emulator = Result { try EC2Emulator() }

    @Test(arguments: ["l2", "l3"])
    func ipvlanOnTheSelectedENIRegistersAndReleases(mode: String) throws {
        var w = try EC2World(Self.emulator)
        w.link = "ipvlan"
        defer { w.close() }
        let conf = w.conf(#"{"subnetId":"\#(w.subnet)"}"#, extra: #","mode":"\#(mode)""#)
        let add = try w.run("ADD", conf)
        #expect(add.exitCode == 0, "\(add.stdout)")
        let r = try JSON.parse(add.stdout)
        let v4 = try #require(r["ips"]?[0]?["address"]?.stringValue)
        let v6 = try #require(r["ips"]?[1]?["address"]?.stringValue)
        // In the pod: an ipvlan slave of the veth that carries the ENI's MAC, with both addresses.
        let link = try #require(linkInfo(w.pod, "net1"))
        #expect((link["linkinfo"] as? [String: Any])?["info_kind"] as? String == "ipvlan")
        #expect(addresses(w.pod, "net1") == [v4, v6].sorted())
        // On the ENI, in EC2.
        let onENI = try w.addresses(of: w.eni)
        #expect(onENI.contains(String(v4.split(separator: "/")[0])) && onENI.contains(String(v6.split(separator: "/")[0])))
        let del = try w.run("DEL", conf)
        #expect(del.exitCode == 0, "\(del.stdout)")
        #expect(linkInfo(w.pod, "net1") == nil)
        let after = try w.addresses(of: w.eni)
        #expect(!after.contains(String(v4.split(separator: "/")[0])) && !after.contains(String(v6.split(separator: "/")[0])))
    }
}
