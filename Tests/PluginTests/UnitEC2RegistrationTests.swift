import Foundation
import Testing
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes

/// An in-memory EC2 + IMDS with AWS's semantics where moto has none (reassignment moves an IPv4 address; IPv6
/// cannot be reassigned; assignment shows in IMDS after a lag), recording every call.
final class FakeRegistry: ENIRegistry {
    var enis: [String: RemoteENI] = [:]
    var macs: [String: MACAddress] = [:]
    var attachedHere: [String] = []
    var calls: [String] = []
    var imdsLag = 0
    var failNext: [String: Int] = [:]
    private var pending: [(ready: Int, eni: String, a: IPAddress)] = []
    private var tick = 0

    struct Throttled: Error {}

    func add(_ e: RemoteENI, mac: String, here: Bool = true) {
        enis[e.id] = e
        macs[e.id] = MACAddress(mac)!
        if here { attachedHere.append(e.id) }
    }

    private func maybeFail(_ op: String) throws {
        calls.append(op)
        if let n = failNext[op], n > 0 { failNext[op] = n - 1; throw Throttled() }
    }

    func localENIs() throws -> [LocalENI] {
        tick += 1
        return attachedHere.compactMap { id in
            guard let e = enis[id] else { return nil }
            return LocalENI(mac: macs[id]!, id: id, deviceIndex: e.deviceIndex ?? -1, subnetID: e.subnetID)
        }
    }
    func localAddresses(mac: MACAddress) throws -> [IPAddress] {
        tick += 1
        guard let id = macs.first(where: { $0.value == mac })?.key, let e = enis[id] else { return [] }
        let hidden = Set(pending.filter { $0.eni == id && $0.ready > tick }.map(\.a))
        return (e.ipv4 + e.ipv6).filter { !hidden.contains($0) }
    }
    func describe(ids: [String]) throws -> [RemoteENI] { try maybeFail("describe"); return ids.compactMap { enis[$0] } }
    func describe(subnetID: String) throws -> [RemoteENI] {
        try maybeFail("describeSubnet"); return enis.values.filter { $0.subnetID == subnetID }.sorted { $0.id < $1.id }
    }
    func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [RemoteENI] {
        try maybeFail("describeTag"); return ids.compactMap { enis[$0] }.filter { $0.tags[tagKey] == value }
    }
    func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
        try maybeFail("assign4")
        for a in ipv4 {
            if let holder = enis.values.first(where: { $0.id != eni && $0.ipv4.contains(a) }) {
                guard allowReassignment else { throw Throttled() }  // InvalidIPAddress.InUse in AWS
                enis[holder.id]!.ipv4.removeAll { $0 == a }
            }
            enis[eni]!.ipv4.append(a)
            pending.append((tick + imdsLag + 1, eni, a))
        }
    }
    func unassign(ipv4: [IPAddress], from eni: String) throws {
        try maybeFail("unassign4"); enis[eni]!.ipv4.removeAll { ipv4.contains($0) }
    }
    func assign(ipv6: [IPAddress], to eni: String) throws {
        try maybeFail("assign6")
        for a in ipv6 {
            guard !enis.values.contains(where: { $0.ipv6.contains(a) }) else { throw Throttled() }
            enis[eni]!.ipv6.append(a)
            pending.append((tick + imdsLag + 1, eni, a))
        }
    }
    func unassign(ipv6: [IPAddress], from eni: String) throws {
        try maybeFail("unassign6"); enis[eni]!.ipv6.removeAll { ipv6.contains($0) }
    }
}

@Suite struct UnitEC2RegistrationTests {
    static let noManage = [EC2NetworkConfig.noManageTagKey: "true"]

    func world() -> FakeRegistry {
        let r = FakeRegistry()
        r.add(RemoteENI(id: "eni-primary", subnetID: "subnet-a", deviceIndex: 0, tags: [:], ipv4: [IPAddress("10.0.0.10")!], ipv6: []),
              mac: "02:00:00:00:00:10")
        r.add(RemoteENI(id: "eni-multus", subnetID: "subnet-b", deviceIndex: 1, tags: Self.noManage, ipv4: [IPAddress("10.0.1.10")!], ipv6: []),
              mac: "02:00:00:00:00:11")
        r.add(RemoteENI(id: "eni-untagged", subnetID: "subnet-c", deviceIndex: 2, tags: ["team": "x"], ipv4: [IPAddress("10.0.2.10")!], ipv6: []),
              mac: "02:00:00:00:00:12")
        // Another node's ENIs in subnet-b: one of ours (cluster tag), one foreign.
        r.add(RemoteENI(id: "eni-other-ours", subnetID: "subnet-b", deviceIndex: 1,
                        tags: Self.noManage.merging([EC2NetworkConfig.clusterTagKey: "prod"]) { a, _ in a },
                        ipv4: [IPAddress("10.0.1.20")!, IPAddress("10.0.1.50")!], ipv6: [IPAddress("2600::50")!]),
              mac: "02:00:00:00:00:21", here: false)
        r.add(RemoteENI(id: "eni-foreign", subnetID: "subnet-b", deviceIndex: 1, tags: [:], ipv4: [IPAddress("10.0.1.30")!], ipv6: []),
              mac: "02:00:00:00:00:31", here: false)
        return r
    }

    func cfg(_ eni: String, extra: String = "") throws -> EC2NetworkConfig {
        try #require(try EC2NetworkConfig.parse(JSON.parse(#"{"eni":\#(eni)\#(extra)}"#).objectValue!))
    }

    @Test func configParsing() throws {
        #expect(try cfg(#"{"id":"eni-1"}"#).selector == .id("eni-1"))
        #expect(try cfg(#"{"subnetId":"subnet-9"}"#).selector == .subnetID("subnet-9"))
        #expect(try cfg(#"{"deviceIndex":2}"#).selector == .deviceIndex(2))
        #expect(try cfg(#"{"tag":{"key":"k","value":"v"}}"#).selector == .tag(key: "k", value: "v"))
        let c = try cfg(#"{"id":"eni-1"}"#, extra: #","clusterName":"prod","requireNoManageTag":false,"ec2TimeoutSeconds":3"#)
        #expect(c.clusterName == "prod" && !c.requireNoManageTag && c.timeoutSeconds == 3 && !c.allowForeignReassignment)
        #expect(try EC2NetworkConfig.parse(JSONObject()) == nil)
        for bad in [#"{}"#, #"{"id":"eni-1","deviceIndex":1}"#, #"{"deviceIndex":0}"#, #"{"id":"x"}"#, #"{"subnetId":"vpc-1"}"#,
                    #"{"tag":{"value":"v"}}"#, #"{"deviceIndex":99}"#] {
            #expect(throws: CNIError.self, "\(bad)") { _ = try EC2NetworkConfig.parse(JSON.parse(#"{"eni":\#(bad)}"#).objectValue!) }
        }
    }

    @Test func selectionByEverySelector() throws {
        let r = world()
        #expect(try selectENI(cfg(#"{"id":"eni-multus"}"#), registry: r).local.mac == MACAddress("02:00:00:00:00:11"))
        #expect(try selectENI(cfg(#"{"subnetId":"subnet-b"}"#), registry: r).local.id == "eni-multus")
        #expect(try selectENI(cfg(#"{"deviceIndex":1}"#), registry: r).local.id == "eni-multus")
        #expect(try selectENI(cfg(#"{"tag":{"key":"node.k8s.amazonaws.com/no_manage","value":"true"}}"#), registry: r).local.id == "eni-multus")
    }

    @Test func primaryAndUntaggedAreRefusedWithReasons() throws {
        let r = world()
        #expect { try selectENI(cfg(#"{"id":"eni-primary"}"#), registry: r) } throws: {
            "\($0)".contains("primary ENI")
        }
        #expect { try selectENI(cfg(#"{"id":"eni-untagged"}"#), registry: r) } throws: {
            "\($0)".contains("node.k8s.amazonaws.com/no_manage=true") && "\($0)".contains("VPC CNI would adopt it")
        }
        #expect(try selectENI(cfg(#"{"id":"eni-untagged"}"#, extra: #","requireNoManageTag":false"#), registry: r).local.id == "eni-untagged")
        #expect { try selectENI(cfg(#"{"id":"eni-elsewhere"}"#), registry: r) } throws: { "\($0)".contains("no ENI of this instance") }
        #expect { try selectENI(cfg(#"{"id":"eni-other-ours"}"#), registry: r) } throws: { "\($0)".contains("no ENI of this instance") }
    }

    @Test func registerAssignsAndConfirmsThroughIMDS() throws {
        let r = world()
        r.imdsLag = 3
        let (local, remote) = try selectENI(cfg(#"{"id":"eni-multus"}"#), registry: r)
        var pauses = 0
        let added = try register([IPAddress("10.0.1.77")!, IPAddress("2600::77")!], on: remote, mac: local.mac,
                                 cfg: cfg(#"{"id":"eni-multus"}"#), registry: r) { pauses += 1 }
        #expect(Set(added) == [IPAddress("10.0.1.77")!, IPAddress("2600::77")!])
        #expect(r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.77")!))
        #expect(r.enis["eni-multus"]!.ipv6 == [IPAddress("2600::77")!])
        #expect(pauses >= 2, "confirmation waited for the IMDS lag")
        #expect(r.calls.filter { $0.hasPrefix("assign") } == ["assign4", "assign6"])
    }

    @Test func alreadyPresentAddressesMakeNoCall() throws {
        let r = world()
        let (local, remote) = try selectENI(cfg(#"{"id":"eni-multus"}"#), registry: r)
        r.calls = []
        let added = try register([IPAddress("10.0.1.10")!], on: remote, mac: local.mac, cfg: cfg(#"{"id":"eni-multus"}"#), registry: r) {}
        #expect(added.isEmpty)
        #expect(r.calls.isEmpty)
    }

    @Test func reassignmentOnlyFromOurClustersENIs() throws {
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#, extra: #","clusterName":"prod""#)
        let (local, remote) = try selectENI(c, registry: r)
        // From another node's ENI of our cluster: IPv4 moves with AllowReassignment, IPv6 is unassigned first.
        _ = try register([IPAddress("10.0.1.20")!, IPAddress("2600::50")!], on: remote, mac: local.mac, cfg: c, registry: r) {}
        #expect(r.enis["eni-other-ours"]!.ipv4 == [IPAddress("10.0.1.50")!])
        #expect(r.enis["eni-other-ours"]!.ipv6.isEmpty)
        #expect(r.enis["eni-multus"]!.ipv6 == [IPAddress("2600::50")!])
        #expect(r.calls.firstIndex(of: "unassign6")! < r.calls.firstIndex(of: "assign6")!)
        // From a foreign ENI: refused, naming the holder, nothing changed.
        let before = r.enis
        #expect { try register([IPAddress("10.0.1.30")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: c, registry: r) {} } throws: {
            "\($0)".contains("eni-foreign") && "\($0)".contains("allowForeignReassignment")
        }
        #expect(r.enis == before)
        // Without a clusterName nothing elsewhere is ours.
        #expect(throws: RegistrationError.self) {
            try register([IPAddress("10.0.1.50")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: cfg(#"{"id":"eni-multus"}"#), registry: r) {}
        }
        // Unless foreign reassignment is allowed explicitly.
        let loose = try cfg(#"{"id":"eni-multus"}"#, extra: #","allowForeignReassignment":true"#)
        _ = try register([IPAddress("10.0.1.30")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: loose, registry: r) {}
        #expect(r.enis["eni-foreign"]!.ipv4.isEmpty)
    }

    @Test func unconfirmedAssignmentIsUndone() throws {
        let r = world()
        r.imdsLag = 1000
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let (local, remote) = try selectENI(c, registry: r)
        #expect(throws: RegistrationError.self) {
            try register([IPAddress("10.0.1.88")!], on: remote, mac: local.mac, cfg: c, registry: r, confirmAttempts: 3) {}
        }
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.88")!))
    }

    @Test func ipv6FailureUndoesTheIPv4Half() throws {
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let (local, remote) = try selectENI(c, registry: r)
        r.failNext["assign6"] = 1
        #expect(throws: FakeRegistry.Throttled.self) {
            try register([IPAddress("10.0.1.99")!, IPAddress("2600::99")!], on: remote, mac: local.mac, cfg: c, registry: r) {}
        }
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.99")!))
    }

    @Test func unregisterLeavesMovedAndReusedAddressesAlone() throws {
        let r = world()
        r.enis["eni-multus"]!.ipv4 += [IPAddress("10.0.1.60")!, IPAddress("10.0.1.61")!]
        // .62 moved to another node meanwhile; .61 was given to a new pod of this node.
        try unregister([IPAddress("10.0.1.60")!, IPAddress("10.0.1.61")!, IPAddress("10.0.1.62")!], from: "eni-multus",
                       keep: [IPAddress("10.0.1.61")!], registry: r)
        #expect(r.enis["eni-multus"]!.ipv4 == [IPAddress("10.0.1.10")!, IPAddress("10.0.1.61")!])
        #expect(r.calls.filter { $0 == "unassign4" }.count == 1)
    }

    @Test func ledgerAndDurableQueue() throws {
        let dir = NSTemporaryDirectory() + "emt-ledger-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = world()
        r.enis["eni-multus"]!.ipv4 += [IPAddress("10.0.1.70")!, IPAddress("10.0.1.71")!]
        let ledger = EC2Ledger(root: dir)
        let k1 = AttachmentKey(containerID: "c1", ifname: "net1"), k2 = AttachmentKey(containerID: "c2", ifname: "net1")
        try ledger.record(k1, .init(eni: "eni-multus", addresses: [IPAddress("10.0.1.70")!], pod: "ns/p1"))
        #expect(try ledger.entry(k1) == .init(eni: "eni-multus", addresses: [IPAddress("10.0.1.70")!], pod: "ns/p1"))
        // DEL of c1 while EC2 is down: the release is queued durably, the ledger entry goes.
        try ledger.enqueue(try #require(try ledger.entry(k1)), unique: 1)
        try ledger.forget(k1)
        #expect(try ledger.queued() == ["1"])
        // A new pod got .71 and is live; a queued release of .71 from an older attachment must not touch it.
        try ledger.record(k2, .init(eni: "eni-multus", addresses: [IPAddress("10.0.1.71")!]))
        try ledger.enqueue(.init(eni: "eni-multus", addresses: [IPAddress("10.0.1.71")!]), unique: 2)
        r.failNext["describe"] = 1
        #expect(try ledger.drain(limit: 4, registry: r) == 0)
        #expect(try ledger.queued() == ["1", "2"])
        #expect(try ledger.drain(limit: 4, registry: r) == 2)
        #expect(try ledger.queued().isEmpty)
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.70")!))
        #expect(r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.71")!))
        // Files are private.
        var st = stat()
        #expect(stat("\(dir)/ledger/\(k2.fileName)", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }
}
