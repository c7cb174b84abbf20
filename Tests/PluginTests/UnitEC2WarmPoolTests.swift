import Foundation
import Testing
import AgentProtocol
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes

/// Mode ec2's warm pool: addresses assigned to the ENI ahead of need and owned by no attachment, so that
/// steady-state ADDs make no EC2 call (`ipam.warmAddresses`, `ipam.minimumAddresses`, as the VPC CNI's
/// WARM_IP_TARGET / MINIMUM_IP_TARGET). Against the in-memory EC2.
@Suite("Unit: IPAM mode ec2, warm pool")
struct UnitEC2WarmPoolTests {
    static let mutating: Set<String> = ["assignCount4", "assignCount6", "assign4", "assign6", "unassign4", "unassign6"]

    func warm(_ w: IPAMWorld) -> [IPAddress] {
        let dir = "\(w.dir)/n1/ec2/warm"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { IPAddress($0) }.sorted()
    }

    @Test("the first ADD takes 1 + warmAddresses in one call; the next ADDs take the pool with no EC2 call")
    func firstADDFillsThePool() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"warmAddresses":4"#)
        let base = w.multus.ipv4.count  // the fake ENI's own secondary addresses
        let first = try w.ec2Calls { _ = try w.add("c0") }
        #expect(first == ["describe", "assignCount4"], "\(first)")
        #expect(w.multus.ipv4.count == base + 5)
        #expect(warm(w).count == 4)
        var got = Set<IPAddress>()
        for i in 1...4 {
            let calls = try w.ec2Calls { got.insert(try w.add("c\(i)")[0].address) }
            #expect(calls.filter(Self.mutating.contains).isEmpty, "ADD \(i): \(calls)")
        }
        #expect(got.count == 4 && got.isSubset(of: Set(w.multus.ipv4)))
        #expect(warm(w).isEmpty)
        // The pool is empty: the next ADD refills it in one call.
        let refill = try w.ec2Calls { _ = try w.add("c5") }
        #expect(refill.filter(Self.mutating.contains) == ["assignCount4"], "\(refill)")
        #expect(warm(w).count == 4 && w.multus.ipv4.count == base + 10)
    }

    @Test("steady state: 64 ADD+DEL cycles with warmAddresses 1 make at most 1 EC2 call per 16 ADDs (here none after the first)")
    func churnMakesNoEC2Call() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"warmAddresses":1"#)
        _ = try w.add("base")
        var mutations: [String] = []
        for i in 0..<64 {
            mutations += try w.ec2Calls {
                _ = try w.add("p\(i)")
                try w.del("p\(i)")
            }.filter(Self.mutating.contains)
        }
        #expect(mutations.count <= 64 / 16, "\(mutations)")
        #expect(mutations.isEmpty, "a DEL gives the pool back what the ADD took: \(mutations)")
        #expect(warm(w).count == 1)
    }

    @Test("a DEL keeps up to warmAddresses in the pool and releases the rest to EC2")
    func delBeyondThePoolReleases() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"warmAddresses":1"#)
        let a = try w.add("a")[0].address
        let b = try w.add("b")[0].address
        #expect(warm(w).count == 0, "the first ADD left one warm, the second took it")
        try w.del("a")
        #expect(warm(w) == [a])
        let calls = try w.ec2Calls { try w.del("b") }
        #expect(calls.filter(Self.mutating.contains) == ["unassign4"], "\(calls)")
        #expect(!w.multus.ipv4.contains(b) && w.multus.ipv4.contains(a))
    }

    @Test("minimumAddresses keeps that many assigned (live plus warm) even when every pod is gone")
    func minimumAddresses() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"minimumAddresses":6"#)
        let base = w.multus.ipv4.count
        let calls = try w.ec2Calls { _ = try w.add("a") }
        #expect(calls.filter(Self.mutating.contains) == ["assignCount4"])
        #expect(w.multus.ipv4.count == base + 6 && warm(w).count == 5)
        try w.del("a")
        #expect(w.multus.ipv4.count == base + 6 && warm(w).count == 6, "nothing released below the minimum")
    }

    @Test("with a cooldown, an address whose cooldown is over is taken again before EC2 is asked")
    func cooledAddressIsReused() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":30,"warmAddresses":1"#)
        _ = try w.add("a")                       // one warm left
        _ = try w.add("b")                       // takes it
        let bAddr = try #require(w.multus.ipv4.last)
        try w.del("b")                           // queued: cooling 30 s
        w.clock += 31
        var again: IPAddress?
        let calls = try w.ec2Calls { again = try w.add("c")[0].address }
        #expect(again == bAddr)
        #expect(calls.filter(Self.mutating.contains).isEmpty, "\(calls)")
    }

    @Test("GC's reconcile counts the pool as owned: nothing of it is released")
    func reconcileKeepsThePool() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"warmAddresses":3,"reconcileGraceSeconds":0"#)
        let base = Set(w.multus.ipv4)  // the fake ENI's own secondary addresses: no record owns them
        _ = try w.add("a")
        let ours = Set(w.multus.ipv4).subtracting(base)
        #expect(ours.count == 4 && Set(warm(w)).isSubset(of: ours))
        try w.gc(valid: ["a"])
        #expect(Set(w.multus.ipv4) == ours, "the unowned ones go, the attachment's and the pool's stay")
    }

    @Test("a pool address IMDS does not show on the ENI is not handed out: the ADD asks EC2 instead")
    func goneAddressIsSkipped() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"warmAddresses":1"#)
        _ = try w.add("a")
        let pooled = try #require(warm(w).first)
        w.reg.enis["eni-multus"]!.ipv4.removeAll { $0 == pooled }  // unassigned behind our back
        var got: IPAddress?
        let calls = try w.ec2Calls { got = try w.add("b")[0].address }
        #expect(calls.contains("assignCount4"), "\(calls)")
        #expect(got.map { w.multus.ipv4.contains($0) } == true, "whatever the ADD got is on the ENI")
    }

    @Test("config: warmAddresses and minimumAddresses belong to the EC2 modes, within bounds")
    func configBounds() throws {
        for (ipam, fragment) in [
            (#""ranges":[[{"subnet":"10.0.1.0/24"}]],"warmAddresses":1"#, "belongs to modes"),
            (#""mode":"prefix","minimumAddresses":1"#, "minimumAddresses"),
            (#""mode":"ec2","warmAddresses":300"#, "warmAddresses"),
            (#""mode":"ec2","minimumAddresses":-1"#, "minimumAddresses"),
        ] {
            let obj = try #require(try JSON.parse("{" + ipam + "}").objectValue)
            let r = Result { () throws(CNIError) -> IPAMConfig in try IPAMConfig(obj, defaultDataDir: "/tmp") }
            guard case .failure(let e) = r else { Issue.record("\(ipam) was accepted"); continue }
            #expect(e.msg.contains(fragment), "\(ipam): \(e.msg)")
        }
        let ok = try IPAMConfig(try #require(try JSON.parse(#"{"mode":"ec2","warmAddresses":16,"minimumAddresses":4}"#).objectValue))
        #expect(ok.warmAddresses == 16 && ok.minimumAddresses == 4)
    }
}
