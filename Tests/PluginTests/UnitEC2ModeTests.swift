import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import CNI
import IPAM
import JSON
import NetTypes
import TestSupport
import NodeState
@testable import Registration

@Suite("Unit: IPAM mode ec2")
struct UnitEC2ModeTests {
    @Test("ADD: EC2 picks the address; result has the subnet's length and gateway; one EC2 call per ADD")
    func addPicksAndRecords() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        var seen = Set<IPAddress>()
        for i in 0..<20 {
            let calls = try w.ec2Calls {
                let ips = try w.add("c\(i)")
                #expect(ips.count == 1 && ips[0].length == 24 && IPPrefix("10.0.1.0/24")!.contains(ips[0].address))
                seen.insert(ips[0].address)
            }
            // The first ADD verifies the ENI's tag once (cached after).
            #expect(calls == (i == 0 ? ["describe", "assignCount4"] : ["assignCount4"]), "ADD \(i)")
        }
        #expect(seen.count == 20)
        #expect(Set(w.multus.ipv4).isSuperset(of: seen))
    }

    @Test("dual-stack: one address of each family, IPv6 with the subnet's /64 and ::1 gateway")
    func dualStack() throws {
        let w = IPAMWorld(#""mode":"ec2","families":["ipv4","ipv6"]"#)
        let ips = try w.add("c1")
        #expect(ips.map(\.address.isV4) == [true, false])
        #expect(ips[1].length == 64)
        #expect(w.multus.ipv6.contains(ips[1].address))
        let inv = try w.invocation(.add, "c2").withSelectedENI()
        let u = UndoStack()
        let r = try inv.acquireAddresses(try inv.ipam(), interface: 0, undo: u)
        #expect(r.ips.map { $0.gateway?.description } == ["10.0.1.1", "2600::1"])
    }

    @Test("DEL keeps the address through the cooldown, then a later invocation releases the batch in one call")
    func delCooldownBatches() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        var addrs: [IPAddress] = []
        for i in 0..<10 { addrs += try w.add("c\(i)").map(\.address) }
        let delCalls = try w.ec2Calls { for i in 0..<10 { try w.del("c\(i)") } }
        #expect(delCalls.isEmpty, "DEL makes no EC2 call while the address cools")
        #expect(Set(w.multus.ipv4).isSuperset(of: addrs), "still ours: EC2 cannot give it to another pod yet")
        w.clock += 29
        var x: [IPAddress] = []
        #expect(try w.ec2Calls { x += try w.add("x1").map(\.address) } == ["assignCount4"])
        #expect(!addrs.contains(x[0]), "EC2 could not pick a cooling address: it is still assigned")
        w.clock += 1
        let calls = try w.ec2Calls { x += try w.add("x2").map(\.address) }
        #expect(calls == ["unassign4", "assignCount4"], "one unassign for the whole batch")
        #expect(Set(w.multus.ipv4).subtracting(x).isDisjoint(with: addrs))
    }

    @Test("the ENI full: ADD takes back the cooling address whose cooldown ends first, with no EC2 release or assign")
    func fullENIReusesCoolingAddress() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        w.reg.limits.ipv4PerENI = 5  // the primary, 10.0.1.11 and three pods
        var pods: [IPAddress] = []
        for i in 0..<3 { pods += try w.add("c\(i)").map(\.address) }
        try w.del("c1")
        w.clock += 5
        try w.del("c0")  // c1 cools down first, then c0
        #expect(try w.unavailability() == nil, "STATUS: a cooling address can serve the next ADD")
        var got: [IPAddress] = []
        let calls = try w.ec2Calls { got += try w.add("n1").map(\.address) }
        #expect(got == [pods[1]], "the one whose cooldown ends first")
        #expect(!calls.contains("unassign4") && calls.filter { $0 == "assignCount4" }.count <= 1, "\(calls)")
        #expect(try w.add("n2").map(\.address) == [pods[0]])
        // Both taken back: the queue no longer holds them, and a drain after the cooldown releases nothing held.
        w.clock += 60
        #expect(try w.ec2Calls { try w.gc(valid: ["c2", "n1", "n2"]) }.filter { $0.hasPrefix("unassign") }.isEmpty)
        #expect(Set(w.multus.ipv4).isSuperset(of: pods))
        // Nothing cooling and the ENI full: ADD fails, STATUS says so.
        #expect(cniError(for: try w.failingAdd("n3")).code != 0)
        #expect(try w.unavailability()?.contains("full") == true)
    }

    @Test("cooldownSeconds 0: DEL releases at once, one call")
    func delNoCooldown() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0"#)
        let a = try w.add("c1")[0].address
        #expect(try w.ec2Calls { try w.del("c1") } == ["unassign4"])
        #expect(!w.multus.ipv4.contains(a))
        try w.del("c1")  // idempotent
    }

    @Test("a requested IP is assigned explicitly, with the ownership guard")
    func requested() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        #expect(try w.add("c1", args: "IP=10.0.1.123") == [IPPrefix("10.0.1.123/24")!])
        #expect(w.multus.ipv4.contains(IPAddress("10.0.1.123")!))
        // Held by a foreign ENI: refused as an IPAM conflict (code 103), nothing taken.
        let e = cniError(for: try w.failingAdd("c2", args: "IP=10.0.1.30"))
        #expect(e.code == CNIErrorCode.ipamConflict.rawValue, "\(e)")
        #expect(e.msg.contains("eni-foreign"))
        #expect(w.reg.enis["eni-foreign"]!.ipv4 == [IPAddress("10.0.1.30")!])
        #expect(try RegistrationStore(NetworkState(root: "\(w.dir)/n1")).entry(AttachmentKey(containerID: "c2", ifname: "net1")) == nil)
        // Outside the ENI's subnet: refused before EC2 is asked.
        #expect(throws: (any Error).self) { try w.add("c3", args: "IP=10.9.9.9") }
    }

    @Test("a second ADD of the same attachment is a conflict and leaves the first intact")
    func duplicate() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        let a = try w.add("c1")[0].address
        let e = cniError(for: try w.failingAdd("c1"))
        #expect(e.msg.contains("c1"))
        #expect(w.multus.ipv4.contains(a))
        #expect(try RegistrationStore(NetworkState(root: "\(w.dir)/n1")).entry(AttachmentKey(containerID: "c1", ifname: "net1"))?.addresses == [a])
    }

    @Test("EC2 failing mid-ADD (IPv6 half) undoes the IPv4 assignment and the ledger entry")
    func rollback() throws {
        let w = IPAMWorld(#""mode":"ec2","families":["ipv4","ipv6"]"#)
        let before = w.multus
        w.reg.failNext["assignCount6"] = 1
        _ = try w.failingAdd("c1")
        #expect(w.multus.ipv4 == before.ipv4 && w.multus.ipv6 == before.ipv6)
        #expect(try FileIO.list("\(w.dir)/n1/ec2/ledger").isEmpty)
    }

    @Test("a rollback whose unassign fails queues the release; the drain asks EC2, so an IMDS lag cannot hide it")
    func rollbackUnassignFailureIsQueued() throws {
        let w = IPAMWorld(#""mode":"ec2","families":["ipv4","ipv6"],"cooldownSeconds":0"#)
        let before = w.multus
        w.reg.imdsLag = 1000  // IMDS never shows the new address during this test
        w.reg.failNext["assignCount6"] = 1
        w.reg.failNext["unassign4"] = 1
        _ = try w.failingAdd("c1")
        #expect(w.multus.ipv4.count == before.ipv4.count + 1, "the IPv4 address is still on the ENI")
        #expect(try FileIO.list("\(w.dir)/n1/ec2/ledger").isEmpty)
        let ledger = RegistrationStore(NetworkState(root: "\(w.dir)/n1"))
        let queued = try ledger.queued()
        #expect(queued.count == 1)
        let entry = try #require(try FileIO.read("\(w.dir)/n1/ec2/queue/\(queued[0])").flatMap(RegistrationEntry.init))
        #expect(entry.mac == nil && entry.addresses.count == 1 && entry.notBefore == 0)
        var drained = 0
        let calls = try w.ec2Calls { drained = try ledger.drain(limit: 16, now: Int64(w.clock), gateway: w.reg) }
        #expect(drained == 1)
        #expect(calls == ["describe", "unassign4"])
        #expect(w.multus.ipv4 == before.ipv4 && w.multus.ipv6 == before.ipv6)
        #expect(try ledger.queued().isEmpty)
    }

    @Test("ranges + eni: an assignment applied whose answer is lost is released after the deadline, despite IMDS lag")
    func lostAssignReplyIsReleased() throws {
        let w = IPAMWorld(#""ranges":[[{"subnet":"10.0.1.0/24","rangeStart":"10.0.1.100"}]]"#)
        let before = w.multus
        w.reg.imdsLag = 1000
        w.reg.lostReply["assign4"] = 1
        _ = try w.failingAdd("c1")
        #expect(w.multus.ipv4 == before.ipv4 + [IPAddress("10.0.1.100")!], "EC2 applied the assignment")
        let ledger = RegistrationStore(NetworkState(root: "\(w.dir)/n1"))
        let name = try #require(try ledger.queued().first)
        let entry = try #require(try FileIO.read("\(w.dir)/n1/ec2/queue/\(name)").flatMap(RegistrationEntry.init))
        #expect(entry.mac == nil && entry.addresses == [IPAddress("10.0.1.100")!] && entry.notBefore > Int64(w.clock))
        // Not before a late call has had the ADD's deadline to land.
        #expect(try ledger.drain(limit: 16, now: Int64(w.clock), gateway: w.reg) == 0)
        w.clock = Double(entry.notBefore)
        #expect(try ledger.drain(limit: 16, now: Int64(w.clock), gateway: w.reg) == 1)
        #expect(w.multus.ipv4 == before.ipv4)
    }

    @Test("mode ec2 without an eni block is refused with code 7")
    func needsENI() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        let text = w.conf().replacingOccurrences(of: #""eni":{"id":"eni-multus"},"#, with: #""master":"eth0","#)
        let inv = try w.invocation(.add, "c1", conf: text)
        let e = cniError(for: try #require(throws: (any Error).self) { _ = try inv.ipam() })
        #expect(e.code == 7 && e.msg.contains("needs an \"eni\" block"))
    }

    @Test("STATUS: an ENI with no free slot is reported")
    func statusFull() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        w.reg.limits.ipv4PerENI = 4  // 10.0.1.10, 10.0.1.11 + two more
        #expect(try w.unavailability() == nil)
        try w.add("c1")
        try w.add("c2")
        let why = try #require(try w.unavailability())
        #expect(why.contains("eni-multus is full") && why.contains("4 of 4"))
        #expect(throws: (any Error).self) { try w.add("c3") }
    }
}
