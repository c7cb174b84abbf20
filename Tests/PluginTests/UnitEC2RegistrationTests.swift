import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes
import NodeState
@testable import Registration
@testable import ENIAddressing

/// An in-memory EC2 + IMDS with AWS's semantics where moto has none (reassignment moves an IPv4 address; IPv6
/// cannot be reassigned; assignment shows in IMDS after a lag), recording every call.
final class FakeEC2Gateway: EC2Gateway, @unchecked Sendable {
    var enis: [String: ENIDescription] = [:]
    var macs: [String: MACAddress] = [:]
    var attachedHere: [String] = []
    var calls: [String] = []
    var imdsLag = 0
    var failNext: [String: Int] = [:]
    /// Calls (by name) that take effect, then fail as if their answer was lost.
    var lostReply: [String: Int] = [:]
    private var pending: [(ready: Int, eni: String, a: IPAddress)] = []
    private var tick = 0

    struct Throttled: Error {}

    func add(_ e: ENIDescription, mac: String, here: Bool = true) {
        enis[e.id] = e
        macs[e.id] = MACAddress(mac)!
        if here { attachedHere.append(e.id) }
    }

    private func maybeFail(_ op: String) throws {
        calls.append(op)
        if let n = failNext[op], n > 0 { failNext[op] = n - 1; throw Throttled() }
    }

    func instanceENIs() throws -> [InstanceENI] {
        tick += 1
        return attachedHere.compactMap { id in
            guard let e = enis[id] else { return nil }
            return InstanceENI(mac: macs[id]!, id: id, deviceIndex: e.deviceIndex ?? -1, subnetID: e.subnetID)
        }
    }
    func localAddresses(mac: MACAddress) throws -> [IPAddress] {
        tick += 1
        guard let id = macs.first(where: { $0.value == mac })?.key, let e = enis[id] else { return [] }
        let hidden = Set(pending.filter { $0.eni == id && $0.ready > tick }.map(\.a))
        return ([e.primaryIPv4].compactMap { $0 } + e.ipv4 + e.ipv6).filter { !hidden.contains($0) }
    }
    func describe(ids: [String]) throws -> [ENIDescription] { try maybeFail("describe"); return ids.compactMap { enis[$0] } }
    func describe(subnetID: String) throws -> [ENIDescription] {
        try maybeFail("describeSubnet"); return enis.values.filter { $0.subnetID == subnetID }.sorted { $0.id < $1.id }
    }
    func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [ENIDescription] {
        try maybeFail("describeTag"); return ids.compactMap { enis[$0] }.filter { $0.tags[tagKey] == value }
    }
    /// Subnet CIDRs by subnet id (IMDS `subnet-ipv4-cidr-block` / `subnet-ipv6-cidr-blocks`).
    var subnetCIDRs: [String: [IPPrefix]] = [
        "subnet-a": [IPPrefix("10.0.0.0/24")!], "subnet-b": [IPPrefix("10.0.1.0/24")!, IPPrefix("2600::/64")!],
        "subnet-c": [IPPrefix("10.0.2.0/24")!],
    ]
    var limits = AddressLimits(instanceType: "m5.large", ipv4PerENI: 50, ipv6PerENI: 50)
    var credentialsOK = true
    /// Answer "in use" also for an address already on the same ENI (what EC2 may do).
    var inUseOnSameENI = false
    struct LimitExceeded: Error {}
    struct NoCredentials: Error {}

    private func holder(of a: IPAddress) -> ENIDescription? {
        enis.values.first { $0.primaryIPv4 == a || $0.ipv4.contains(a) || $0.ipv6.contains(a) || $0.prefixes.contains { $0.contains(a) } }
    }
    private func slots(_ eni: String, v4: Bool) -> Int {
        let e = enis[eni]!
        return (v4 ? e.ipv4.count + (e.primaryIPv4 == nil ? 0 : 1) : e.ipv6.count) + e.prefixes.filter { $0.address.isV4 == v4 }.count
    }
    private func checkLimit(_ eni: String, v4: Bool, adding n: Int) throws {
        if slots(eni, v4: v4) + n > (v4 ? limits.ipv4PerENI : limits.ipv6PerENI) { throw LimitExceeded() }
    }

    // AWS semantics: an address held by another ENI is refused (InvalidIPAddress.InUse) unless IPv4 reassignment
    // is allowed; one already on this ENI is a no-op.
    func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
        try maybeFail("assign4")
        if inUseOnSameENI, case let same = ipv4.filter({ enis[eni]!.ipv4.contains($0) }), !same.isEmpty {
            throw AddressInUse(addresses: same, detail: "InvalidIPAddress.InUse")
        }
        let new = ipv4.filter { !enis[eni]!.ipv4.contains($0) }
        let held = new.filter { holder(of: $0) != nil }
        if !held.isEmpty && !allowReassignment { throw AddressInUse(addresses: held, detail: "InvalidIPAddress.InUse") }
        try checkLimit(eni, v4: true, adding: new.count)
        for a in new {
            if let h = holder(of: a) { enis[h.id]!.ipv4.removeAll { $0 == a } }
            enis[eni]!.ipv4.append(a)
            pending.append((tick + imdsLag + 1, eni, a))
        }
        if let n = lostReply["assign4"], n > 0 { lostReply["assign4"] = n - 1; throw Throttled() }
    }
    func unassign(ipv4: [IPAddress], from eni: String) throws {
        try maybeFail("unassign4"); enis[eni]!.ipv4.removeAll { ipv4.contains($0) }
    }
    func assign(ipv6: [IPAddress], to eni: String) throws {
        try maybeFail("assign6")
        let new = ipv6.filter { !enis[eni]!.ipv6.contains($0) }
        let held = new.filter { holder(of: $0) != nil }
        if !held.isEmpty { throw AddressInUse(addresses: held, detail: "InvalidIPAddress.InUse") }
        try checkLimit(eni, v4: false, adding: new.count)
        for a in new {
            enis[eni]!.ipv6.append(a)
            pending.append((tick + imdsLag + 1, eni, a))
        }
    }
    func unassign(ipv6: [IPAddress], from eni: String) throws {
        try maybeFail("unassign6"); enis[eni]!.ipv6.removeAll { ipv6.contains($0) }
    }
    /// EC2 picks the lowest free address of the subnet (never the first four or the last: AWS reserves them).
    func assign(count: Int, v4: Bool, to eni: String) throws -> [IPAddress] {
        try maybeFail(v4 ? "assignCount4" : "assignCount6")
        try checkLimit(eni, v4: v4, adding: count)
        let sub = subnetCIDRs[enis[eni]!.subnetID]!.first { $0.address.isV4 == v4 }!
        var out: [IPAddress] = []
        var a = sub.networkAddress.advanced(by: 4)
        while out.count < count {
            precondition(a < sub.lastAddress, "fake subnet exhausted")
            if holder(of: a) == nil {
                out.append(a)
                if v4 { enis[eni]!.ipv4.append(a) } else { enis[eni]!.ipv6.append(a) }
                pending.append((tick + imdsLag + 1, eni, a))
            }
            a = a.next()
        }
        return out
    }
    /// The lowest aligned /28 (/80) of the subnet that overlaps no address or prefix.
    func assignPrefixes(count: Int, v4: Bool, to eni: String) throws -> [IPPrefix] {
        try maybeFail(v4 ? "assignPrefix4" : "assignPrefix6")
        try checkLimit(eni, v4: v4, adding: count)
        let sub = subnetCIDRs[enis[eni]!.subnetID]!.first { $0.address.isV4 == v4 }!
        let len = v4 ? 28 : 80
        let step: Int64 = v4 ? 16 : Int64(1) << 48
        var out: [IPPrefix] = []
        var base = sub.networkAddress
        while out.count < count {
            let p = IPPrefix(address: base, length: len)!
            let clash = p.contains(sub.networkAddress.advanced(by: 3)) || p.contains(sub.lastAddress)
                || enis.values.contains { e in (e.ipv4 + e.ipv6).contains { p.contains($0) } || e.prefixes.contains { $0.overlaps(p) } }
            if !clash {
                out.append(p)
                enis[eni]!.prefixes.append(p)
            }
            base = base.advanced(by: step)
        }
        return out
    }
    func unassign(prefixes: [IPPrefix], from eni: String) throws {
        try maybeFail("unassignPrefix"); enis[eni]!.prefixes.removeAll { prefixes.contains($0) }
    }
    func subnets(mac: MACAddress) throws -> [IPPrefix] {
        tick += 1
        guard let id = macs.first(where: { $0.value == mac })?.key, let e = enis[id] else { return [] }
        return subnetCIDRs[e.subnetID] ?? []
    }
    func localPrefixes(mac: MACAddress) throws -> [IPPrefix] {
        guard let id = macs.first(where: { $0.value == mac })?.key, let e = enis[id] else { return [] }
        return e.prefixes
    }
    func addressLimits() throws -> AddressLimits { try maybeFail("describeInstanceTypes"); return limits }
    func checkCredentials() throws { if !credentialsOK { throw NoCredentials() } }
    /// EC2 calls made (IMDS reads are not calls).
    var ec2Calls: [String] { calls }
}

@Suite struct UnitEC2RegistrationTests {
    static let noManage = [NodeTags.noManage: "true"]

    func world() -> FakeEC2Gateway {
        let r = FakeEC2Gateway()
        r.add(ENIDescription(id: "eni-primary", subnetID: "subnet-a", deviceIndex: 0, tags: [:], ipv4: [], ipv6: [], primaryIPv4: IPAddress("10.0.0.10")!),
              mac: "02:00:00:00:00:10")
        r.add(ENIDescription(id: "eni-multus", subnetID: "subnet-b", deviceIndex: 1, tags: Self.noManage, ipv4: [IPAddress("10.0.1.11")!], ipv6: [], primaryIPv4: IPAddress("10.0.1.10")!),
              mac: "02:00:00:00:00:11")
        r.add(ENIDescription(id: "eni-untagged", subnetID: "subnet-c", deviceIndex: 2, tags: ["team": "x"], ipv4: [], ipv6: [], primaryIPv4: IPAddress("10.0.2.10")!),
              mac: "02:00:00:00:00:12")
        // Another node's ENIs in subnet-b: one of ours (cluster tag), one foreign.
        r.add(ENIDescription(id: "eni-other-ours", subnetID: "subnet-b", deviceIndex: 1,
                        tags: Self.noManage.merging([NodeTags.cluster: "prod"]) { a, _ in a },
                        ipv4: [IPAddress("10.0.1.20")!, IPAddress("10.0.1.50")!], ipv6: [IPAddress("2600::50")!]),
              mac: "02:00:00:00:00:21", here: false)
        r.add(ENIDescription(id: "eni-foreign", subnetID: "subnet-b", deviceIndex: 1, tags: [:], ipv4: [IPAddress("10.0.1.30")!], ipv6: []),
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
        #expect(try selectENI(cfg(#"{"id":"eni-multus"}"#), gateway: r).attached.mac == MACAddress("02:00:00:00:00:11"))
        #expect(try selectENI(cfg(#"{"subnetId":"subnet-b"}"#), gateway: r).attached.id == "eni-multus")
        #expect(try selectENI(cfg(#"{"deviceIndex":1}"#), gateway: r).attached.id == "eni-multus")
        #expect(try selectENI(cfg(#"{"tag":{"key":"node.k8s.amazonaws.com/no_manage","value":"true"}}"#), gateway: r).attached.id == "eni-multus")
    }

    @Test func primaryAndUntaggedAreRefusedWithReasons() throws {
        let r = world()
        #expect { try selectENI(cfg(#"{"id":"eni-primary"}"#), gateway: r) } throws: {
            "\($0)".contains("primary ENI")
        }
        #expect { try selectENI(cfg(#"{"id":"eni-untagged"}"#), gateway: r) } throws: {
            "\($0)".contains("node.k8s.amazonaws.com/no_manage=true") && "\($0)".contains("VPC CNI would adopt it")
        }
        #expect(try selectENI(cfg(#"{"id":"eni-untagged"}"#, extra: #","requireNoManageTag":false"#), gateway: r).attached.id == "eni-untagged")
        #expect { try selectENI(cfg(#"{"id":"eni-elsewhere"}"#), gateway: r) } throws: { "\($0)".contains("no ENI of this instance") }
        #expect { try selectENI(cfg(#"{"id":"eni-other-ours"}"#), gateway: r) } throws: { "\($0)".contains("no ENI of this instance") }
    }

    @Test func registerAssignsAndConfirmsThroughIMDS() throws {
        let r = world()
        r.imdsLag = 3
        let (local, remote) = try selectENI(cfg(#"{"id":"eni-multus"}"#), gateway: r)
        var pauses = 0
        let added = try register([IPAddress("10.0.1.77")!, IPAddress("2600::77")!], on: remote, mac: local.mac,
                                 cfg: cfg(#"{"id":"eni-multus"}"#), gateway: r) { pauses += 1 }
        #expect(Set(added) == [IPAddress("10.0.1.77")!, IPAddress("2600::77")!])
        #expect(r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.77")!))
        #expect(r.enis["eni-multus"]!.ipv6 == [IPAddress("2600::77")!])
        #expect(pauses >= 2, "confirmation waited for the IMDS lag")
        #expect(r.calls.filter { $0.hasPrefix("assign") } == ["assign4", "assign6"])
    }

    @Test func alreadyPresentAddressesMakeNoCall() throws {
        let r = world()
        let (local, remote) = try selectENI(cfg(#"{"id":"eni-multus"}"#), gateway: r)
        r.calls = []
        let added = try register([IPAddress("10.0.1.11")!], on: remote, mac: local.mac, cfg: cfg(#"{"id":"eni-multus"}"#), gateway: r) {}
        #expect(added.isEmpty)
        #expect(r.calls.isEmpty)
    }

    @Test func reassignmentOnlyFromOurClustersENIs() throws {
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#, extra: #","clusterName":"prod""#)
        let (local, remote) = try selectENI(c, gateway: r)
        // From another node's ENI of our cluster: IPv4 moves with AllowReassignment, IPv6 is unassigned first.
        _ = try register([IPAddress("10.0.1.20")!, IPAddress("2600::50")!], on: remote, mac: local.mac, cfg: c, gateway: r) {}
        #expect(r.enis["eni-other-ours"]!.ipv4 == [IPAddress("10.0.1.50")!])
        #expect(r.enis["eni-other-ours"]!.ipv6.isEmpty)
        #expect(r.enis["eni-multus"]!.ipv6 == [IPAddress("2600::50")!])
        // Assign first; EC2 said "in use", so the holder was looked up, unassigned, and the assign repeated.
        #expect(r.calls.filter { $0 != "describe" } == ["assign4", "describeSubnet", "assign4", "assign6", "describeSubnet", "unassign6", "assign6"])
        // From a foreign ENI: refused, naming the holder, nothing changed.
        let before = r.enis
        #expect { try register([IPAddress("10.0.1.30")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: c, gateway: r) {} } throws: {
            "\($0)".contains("eni-foreign") && "\($0)".contains("allowForeignReassignment")
        }
        #expect(r.enis == before)
        // Without a clusterName nothing elsewhere is ours.
        #expect(throws: RegistrationError.self) {
            try register([IPAddress("10.0.1.50")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: cfg(#"{"id":"eni-multus"}"#), gateway: r) {}
        }
        // Unless foreign reassignment is allowed explicitly.
        let loose = try cfg(#"{"id":"eni-multus"}"#, extra: #","allowForeignReassignment":true"#)
        _ = try register([IPAddress("10.0.1.30")!], on: r.enis["eni-multus"]!, mac: local.mac, cfg: loose, gateway: r) {}
        #expect(r.enis["eni-foreign"]!.ipv4.isEmpty)
    }

    @Test("steady state: one EC2 call per registration and one per release (verified ENI cached, IMDS says what is ours)")
    func oneCallEach() throws {
        let dir = NSTemporaryDirectory() + "emt-verified-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let cache = VerifiedENICache(dir: dir)
        _ = try selectENI(c, gateway: r, cache: cache)
        #expect(r.calls == ["describe"])
        for i in 0..<5 {
            r.calls = []
            let (local, remote) = try selectENI(c, gateway: r, cache: cache)
            #expect(!remote.known)
            let a = IPAddress("10.0.1.\(100 + i)")!
            _ = try register([a], on: remote, mac: local.mac, cfg: c, gateway: r) {}
            try releaseAddresses([a], from: remote.id, mac: local.mac, keep: [], gateway: r)
            #expect(r.calls == ["assign4", "unassign4"])
        }
        // fresh (CHECK) describes again; an ENI that failed verification is never cached.
        r.calls = []
        #expect(try selectENI(c, gateway: r, cache: cache, describe: .again).described.known)
        #expect(r.calls == ["describe"])
        _ = try? selectENI(try cfg(#"{"id":"eni-untagged"}"#), gateway: r, cache: cache)
        #expect(!cache.contains("eni-untagged"))
    }

    @Test("an address already on our own ENI (EC2: in use) is taken as registered, not an error")
    func inUseByOurselves() throws {
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let cached = ENIDescription(id: "eni-multus", subnetID: "subnet-b", deviceIndex: 1, tags: Self.noManage, ipv4: [], ipv6: [], known: false)
        r.enis["eni-multus"]!.ipv4.append(IPAddress("10.0.1.44")!)
        r.inUseOnSameENI = true
        r.calls = []
        let added = try register([IPAddress("10.0.1.44")!], on: cached, mac: MACAddress("02:00:00:00:00:11")!, cfg: c, gateway: r) {}
        #expect(added.isEmpty, "not ours to undo: it was there before")
        #expect(r.calls == ["assign4", "describeSubnet"])
        #expect(r.enis["eni-multus"]!.ipv4.filter { $0 == IPAddress("10.0.1.44")! }.count == 1)
    }

    @Test func unconfirmedAssignmentIsUndone() throws {
        let r = world()
        r.imdsLag = 1000
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let (local, remote) = try selectENI(c, gateway: r)
        #expect(throws: RegistrationError.self) {
            try register([IPAddress("10.0.1.88")!], on: remote, mac: local.mac, cfg: c, gateway: r, confirmAttempts: 3) {}
        }
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.88")!))
    }

    @Test func ipv6FailureUndoesTheIPv4Half() throws {
        let r = world()
        let c = try cfg(#"{"id":"eni-multus"}"#)
        let (local, remote) = try selectENI(c, gateway: r)
        r.failNext["assign6"] = 1
        #expect(throws: FakeEC2Gateway.Throttled.self) {
            try register([IPAddress("10.0.1.99")!, IPAddress("2600::99")!], on: remote, mac: local.mac, cfg: c, gateway: r) {}
        }
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.99")!))
    }

    @Test func unregisterLeavesMovedAndReusedAddressesAlone() throws {
        let r = world()
        r.enis["eni-multus"]!.ipv4 += [IPAddress("10.0.1.60")!, IPAddress("10.0.1.61")!]
        // .62 moved to another node meanwhile; .61 was given to a new pod of this node.
        try releaseAddresses([IPAddress("10.0.1.60")!, IPAddress("10.0.1.61")!, IPAddress("10.0.1.62")!], from: "eni-multus",
                       keep: [IPAddress("10.0.1.61")!], gateway: r)
        #expect(r.enis["eni-multus"]!.ipv4 == [IPAddress("10.0.1.11")!, IPAddress("10.0.1.61")!])
        #expect(r.calls.filter { $0 == "unassign4" }.count == 1)
    }

    @Test func ledgerAndDurableQueue() throws {
        let dir = NSTemporaryDirectory() + "emt-ledger-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = world()
        r.enis["eni-multus"]!.ipv4 += [IPAddress("10.0.1.70")!, IPAddress("10.0.1.71")!]
        let ledger = RegistrationStore(NetworkState(root: dir))
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
        #expect(try ledger.drain(limit: 4, now: 0, gateway: r) == 0)
        #expect(try ledger.queued() == ["1", "2"])
        #expect(try ledger.drain(limit: 4, now: 0, gateway: r) == 2)
        #expect(try ledger.queued().isEmpty)
        #expect(!r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.70")!))
        #expect(r.enis["eni-multus"]!.ipv4.contains(IPAddress("10.0.1.71")!))
        // Files are private.
        var st = stat()
        #expect(stat("\(ledger.ledgerDir)/\(k2.fileName)", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    /// Torn ledger, pool and queue entries (a power cut under a build without the fsync policy, or a lying disk)
    /// own nothing: readers skip them, the drain and the GC sweep remove them, nothing throws.
    @Test func tornEntriesOwnNothingAndAreSwept() throws {
        let dir = NSTemporaryDirectory() + "emt-ledger-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let whole = RegistrationEntry(eni: "eni-multus", addresses: [IPAddress("10.0.1.72")!], mac: MACAddress("02:00:00:00:00:02"))
        #expect(RegistrationEntry(whole.bytes) == whole)
        #expect(RegistrationEntry([]) == nil)
        #expect(RegistrationEntry(Array(whole.bytes.dropLast())) == nil)          // no final newline
        #expect(RegistrationEntry(Array(whole.bytes.dropLast(3)) + [0x0a]) == nil) // an address cut short
        let ledger = RegistrationStore(NetworkState(root: dir))
        let k = AttachmentKey(containerID: "c9", ifname: "net1")
        for sub in [ledger.ledgerDir, ledger.warmDir, ledger.queueDir] { try FileIO.makeDirectories(sub) }
        try FileIO.writeAtomically("\(ledger.ledgerDir)/\(k.fileName)", [], .durable)
        try FileIO.writeAtomically("\(ledger.warmDir)/10.0.1.73", Array("eni=eni-multus\nip=10.0".utf8), .durable)
        try FileIO.writeAtomically("\(ledger.queueDir)/7", Array("eni=eni-multus\nip=10.0.1.7".utf8), .durable)
        #expect(try ledger.entry(k) == nil)
        #expect(try ledger.liveAddresses().isEmpty)
        #expect(try ledger.warm(eni: nil).isEmpty)
        #expect(try ledger.coolingQueued(eni: "eni-multus").isEmpty)
        try ledger.locked { try ledger.sweepTorn() }
        #expect(try FileIO.list(ledger.warmDir).isEmpty)
        #expect(try FileIO.list(ledger.queueDir).isEmpty)
    }
}
