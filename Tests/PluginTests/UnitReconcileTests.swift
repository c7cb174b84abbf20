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

@Suite("Unit: GC and node reconcile")
struct UnitReconcileTests {
    @Test("GC frees leaked reservations; reconcile unassigns unowned addresses after the grace period; valid ones stay")
    func leaksAndOrphans() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0,"reconcileGraceSeconds":60"#)
        let keep = try w.add("live")[0].address
        let leaked = try w.add("gone")[0].address
        // An orphan: on our ENI, owned by no record (a crash between EC2's answer and the ledger write).
        let orphan = try w.reg.assign(count: 1, v4: true, to: "eni-multus")[0]
        try w.gc(valid: ["live"])
        #expect(!w.multus.ipv4.contains(leaked), "the leaked reservation's address was released")
        #expect(w.multus.ipv4.contains(orphan), "orphans wait for the grace period")
        #expect(w.multus.ipv4.contains(keep))
        w.clock += 60
        try w.gc(valid: ["live"])
        #expect(!w.multus.ipv4.contains(orphan))
        #expect(w.multus.ipv4.contains(keep))
        #expect(w.multus.primaryIPv4 == IPAddress("10.0.1.10")!)
    }

    @Test("reconcile reports and drains queues of every network on the node")
    func reportAndDrain() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":30"#)
        try w.add("a")
        try w.add("b")
        try w.del("b")
        let r0 = try Reconciler(dataDir: w.dir, gateway: w.reg, now: Int64(w.clock), graceSeconds: 300).run()
        #expect(r0.enis == 1 && r0.queued == 1 && r0.drained == 0)
        let r1 = try Reconciler(dataDir: w.dir, gateway: w.reg, now: Int64(w.clock) + 30, graceSeconds: 300).run()
        #expect(r1.drained == 1 && r1.queued == 0)
    }

    @Test("reconcile removes temporary files older than ten minutes (a killed writer's, a power cut's), not newer ones")
    func staleTemporaries() throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0"#)
        try w.add("a")
        let state = NodeStateLayout(dataDir: w.dir).network("n1")
        let now = Int64(w.clock)
        var paths: [String: Int64] = [:]   // path -> age in seconds
        for (dir, age) in [(state.ledger, 601), (state.warm, 3600), (NodeStateLayout(dataDir: w.dir).verifiedENIs, 900), (state.ledger, 30)] {
            try FileIO.makeDirectories(dir)
            let p = "\(dir)/.x\(age).tmp.\(age)"
            try FileIO.writeAtomically(p, [], .hint)
            var times = [timeval(tv_sec: Int(now - Int64(age)), tv_usec: 0), timeval(tv_sec: Int(now - Int64(age)), tv_usec: 0)]
            #expect(utimes(p, &times) == 0)
            paths[p] = Int64(age)
        }
        let r = try Reconciler(dataDir: w.dir, gateway: w.reg, now: now, graceSeconds: 300).run()
        #expect(r.temporariesRemoved == 3)
        for (p, age) in paths { #expect(FileIO.exists(p) == (age < 600), "\(p)") }
        #expect(try RegistrationStore(state).entry(AttachmentKey(containerID: "a", ifname: "net1")) != nil)
    }

    /// What the power-cut campaign found: a DEL that died (or lost power) after its unassign and before its forget
    /// leaves an entry listing an address EC2 may since have given to a new attachment of this node. The stale
    /// entry's DEL or GC must not take that address away again.
    @Test("a stale ledger entry never releases an address a live attachment holds (GC, then DEL)", arguments: ["gc", "del"])
    func staleEntryKeepsTheLiveAttachmentsAddress(verb: String) throws {
        let w = IPAMWorld(#""mode":"ec2","cooldownSeconds":0"#)
        let a = try w.add("live")[0].address
        let store = RegistrationStore(NetworkState(root: "\(w.dir)/n1"))
        let live = try #require(try store.entry(AttachmentKey(containerID: "live", ifname: "net1")))
        try store.record(AttachmentKey(containerID: "stale", ifname: "net1"), .init(eni: live.eni, addresses: [a], mac: live.mac))
        if verb == "gc" { try w.gc(valid: ["live"]) } else { try w.del("stale") }
        #expect(w.multus.ipv4.contains(a), "the live attachment's \(a) was unassigned")
        #expect(try store.entry(AttachmentKey(containerID: "stale", ifname: "net1")) == nil)
        #expect(try store.entry(AttachmentKey(containerID: "live", ifname: "net1"))?.addresses == [a])
        try w.del("live")
        #expect(!w.multus.ipv4.contains(a), "the live attachment's own DEL releases it")
    }
}
