import Foundation
import Testing
import JSON
import NetTypes
import TestSupport

/// The node-reboot path: pods attached (one host-device pod and two pods whose IPAM we are, behind another
/// plugin), then a "reboot" — every pod netns gone, the ENI back in the node's netns under its own name (as at
/// boot), the state directory kept — then what kubelet and the runtime do next, in either order: ADDs of the new
/// sandboxes (the old records still there) and GC with the runtime's new valid list. Afterwards the old attachments are gone
/// from the store and from EC2, the new ones pass CHECK and hold their addresses in EC2, and their DELs leave
/// nothing.
@Suite(.tier(), .serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct HostRebootTests {
    static let emulator = Result { try EC2Emulator() }

    /// The mode's config with another plugin (macvlan on eni0) delegating IPAM to us: the IPAM role.
    static func ipamRole(_ conf: String) throws -> String {
        guard case .object(var o) = try JSON.parse(conf) else { throw HarnessError("not an object: \(conf)") }
        for k in ["link", "device", "master", "mode"] { o[k] = nil }
        o["type"] = .string("macvlan")
        o["master"] = .string("eni0")
        return JSON.object(o).serialized()
    }

    static func withPrev(_ conf: String, _ add: ChildResult) throws -> String {
        guard case .object(var o) = try JSON.parse(conf) else { throw HarnessError("not an object: \(conf)") }
        o["prevResult"] = try JSON.parse(add.stdout)
        return JSON.object(o).serialized()
    }

    @Test("reboot: new ADDs and GC with the new list (either order) release the old attachments in the store and EC2",
          arguments: [CampaignMode.ranges, .rangesENI, .ec2, .ec2Warm, .prefix], [false, true])
    func reboot(mode: CampaignMode, gcFirst: Bool) throws {
        let emu = try Self.emulator.get()
        let ec2 = mode.usesEC2 ? try CampaignEC2.make(emu) : nil
        let dir = try makeTempDir("emt-reboot")
        defer { _ = Shell.run(["rm", "-rf", dir]) }
        let plugin = mode.conf(dataDir: dir, ec2: ec2)
        let role = try Self.ipamRole(plugin)

        // Before: three pods.
        let before = try CampaignNode(tag: "r", mac: ec2?.mac ?? "02:00:00:00:77:01", dataDir: dir, ec2: ec2)
        var oldAddresses: [String] = []
        for (cid, conf) in [("old-hd", plugin), ("old-a", role), ("old-b", role)] {
            let add = before.exec("ADD", conf: conf, containerID: cid)
            #expect(add.status == 0, "\(mode) ADD \(cid): \(add)")
            oldAddresses += CampaignNode.resultAddresses(add)
        }
        #expect(oldAddresses.count == 3, "\(oldAddresses)")
        #expect(before.links(in: before.pod).map(\.name) == ["net1"])

        // Reboot: every netns gone (the veth "ENI" with it), the node boots with its ENI under its own name.
        before.close()
        let node = try CampaignNode(tag: "r", mac: ec2?.mac ?? "02:00:00:00:77:01", dataDir: dir, ec2: ec2)
        defer { node.close() }

        // The runtime's GC: the valid list holds only the new sandboxes.
        let newIDs = ["new-hd", "new-a", "new-b"]
        func runtimeGC() {
            let gc = node.exec("GC", conf: mode.conf(dataDir: dir, ec2: ec2, gc: newIDs), containerID: "")
            #expect(gc.status == 0, "\(mode) GC: \(gc)")
        }
        if gcFirst { runtimeGC() }
        // The new sandboxes (attached before the GC, the old records must not stand in the way).
        var adds: [(cid: String, conf: String, result: ChildResult)] = []
        for (cid, conf) in zip(newIDs, [plugin, role, role]) {
            let add = node.exec("ADD", conf: conf, containerID: cid)
            #expect(add.status == 0, "\(mode) ADD \(cid) after the reboot: \(add)")
            adds.append((cid, conf, add))
        }
        let newAddresses = adds.flatMap { CampaignNode.resultAddresses($0.result) }
        #expect(newAddresses.count == 3)
        if !gcFirst {
            #expect(Set(newAddresses).isDisjoint(with: oldAddresses),
                    "new \(newAddresses) must not reuse the old attachments' \(oldAddresses) before GC")
        }
        #expect(node.ec2InvariantProblems("after the new ADDs") == [])
        if !gcFirst { runtimeGC() }
        let records = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(CampaignMode.network)/attachments")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(CampaignMode.network)/ec2/ledger")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(CampaignMode.network)/links")) ?? [])
        #expect(!records.contains { $0.hasPrefix("old-") }, "\(mode): old records left after GC: \(records)")
        #expect(records.contains { $0.hasPrefix("new-hd") })
        if let ec2 {
            let held = try ec2.held()
            let warm = node.storeAccount().warm
            func norm(_ a: String) -> String { IPAddress(a).map { "\($0)" } ?? a }
            let newPlain = Set(newAddresses.map { norm(String($0.split(separator: "/")[0])) })
            if mode == .prefix {
                let prefixes = held.prefixes.compactMap { IPPrefix($0) }
                #expect(newPlain.allSatisfy { a in prefixes.contains { $0.contains(IPAddress(a)!) } }, "\(held)")
            } else {
                let onENI = Set(held.addresses.map(norm)).subtracting(warm)
                #expect(onENI == newPlain, "\(mode): EC2 holds \(onENI) (warm \(warm)), the new attachments \(newPlain)")
            }
        }
        for a in adds {
            let check = node.exec("CHECK", conf: try Self.withPrev(a.conf, a.result), containerID: a.cid)
            #expect(check.status == 0, "\(mode) CHECK \(a.cid) after GC: \(check)")
        }
        for a in adds {
            let del = node.exec("DEL", conf: try Self.withPrev(a.conf, a.result), containerID: a.cid)
            #expect(del.status == 0, "\(mode) DEL \(a.cid): \(del)")
        }
        _ = node.exec("GC", conf: mode.conf(dataDir: dir, ec2: ec2, gc: []), containerID: "")
        #expect(node.allLeaks() == [], "\(mode)")
    }
}
