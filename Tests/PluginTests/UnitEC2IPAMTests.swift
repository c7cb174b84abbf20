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

/// The EC2-native IPAM modes against the in-memory EC2 (`FakeEC2Gateway`: AWS semantics for counts, prefixes,
/// limits and "in use"), driving the invocation's IPAM half directly (no links).
final class IPAMWorld: @unchecked Sendable {
    let reg: FakeEC2Gateway
    let dir: String
    var clock: Double = 1_800_000_000
    var ipam: String
    var eni = #"{"id":"eni-multus"}"#
    /// Set: the real AWS layer with these variables (the emulator's) instead of the fake.
    var aws: [String: String]?

    init(_ ipam: String, aws: [String: String]? = nil, eni: String? = nil) {
        reg = UnitEC2RegistrationTests().world()
        dir = NSTemporaryDirectory() + "emt-ec2ipam-\(UUID().uuidString)"
        self.ipam = ipam
        self.aws = aws
        if let eni { self.eni = eni }
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func conf(_ extra: String = "") -> String {
        #"{"cniVersion":"1.1.0","name":"n1","type":"eni-multus","link":"ipvlan","eni":\#(eni),"ipam":{"type":"eni-multus","dataDir":"\#(dir)",\#(ipam)}\#(extra)}"#
    }

    func invocation(_ command: CNICommand, _ cid: String, conf text: String? = nil, args: String? = nil) throws -> Invocation {
        var vars = ["CNI_COMMAND": command.rawValue, "CNI_CONTAINERID": cid, "CNI_NETNS": "/proc/self/ns/net",
                    "CNI_IFNAME": "net1", "CNI_PATH": "/nonexistent"]
        if command == .gc || command == .status { vars["CNI_CONTAINERID"] = nil; vars["CNI_NETNS"] = nil; vars["CNI_IFNAME"] = nil }
        if let args { vars["CNI_ARGS"] = args }
        if let aws { vars.merge(try NodeAgentProcess.pluginVariables(for: aws)) { _, b in b } }
        let stdin = Array((text ?? conf()).utf8)
        var env = PluginEnvironment(variables: vars, stdin: stdin, monotonicNanos: { 0 },
                                    wallClock: { [unowned self] in self.clock }, random: { UInt64.random(in: 0...UInt64.max) })
        let r = reg
        if aws == nil { env.gatewayFactory = { _ in r } }
        let json = try JSON.parse(stdin)
        let conf = try NetConf(json: json, command: command)
        return Invocation(env: env, cni: try CNIEnvironment(vars, command: command), conf: conf, version: .v1_1_0,
                          log: EventLog(path: nil, level: .error, wallClock: { 0 }, base: JSONObject()))
    }

    /// ADD's IPAM half: the ENI selected, addresses acquired (and registered), undo dropped.
    @discardableResult
    func add(_ cid: String, args: String? = nil) throws -> [IPPrefix] {
        let inv = try invocation(.add, cid, args: args).withSelectedENI(drainQueue: true)
        let undo = UndoStack()
        let r = try inv.acquireAddresses(try inv.ipam(), interface: 0, undo: undo)
        undo.commit()
        return r.ips.map(\.address)
    }

    /// ADD that fails: the undo runs, as the driver would.
    func failingAdd(_ cid: String, args: String? = nil) throws -> any Error {
        let inv = try invocation(.add, cid, args: args).withSelectedENI(drainQueue: true)
        let undo = UndoStack()
        do {
            _ = try inv.acquireAddresses(try inv.ipam(), interface: 0, undo: undo)
            undo.commit()
        } catch {
            undo.rollback()
            return error
        }
        throw HarnessError("ADD \(cid) unexpectedly succeeded")
    }

    /// DEL's IPAM half (EC2 release first, then the IPAM record).
    func del(_ cid: String) throws {
        let inv = try invocation(.del, cid)
        inv.releaseRegistration()
        try inv.ipam().del(inv)
    }

    func gc(valid: [String]) throws {
        let list = valid.map { #"{"containerID":"\#($0)","ifname":"net1"}"# }.joined(separator: ",")
        try invocation(.gc, "", conf: conf(#","cni.dev/valid-attachments":[\#(list)]"#)).gc()
    }

    func unavailability() throws -> String? {
        let inv = try invocation(.status, "").withSelectedENI()
        return try inv.ipam().unavailability(inv)
    }

    var multus: ENIDescription { reg.enis["eni-multus"]! }
    func ec2Calls(_ body: () throws -> Void) rethrows -> [String] {
        reg.calls = []
        try body()
        return reg.calls
    }
}


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

@Suite("Unit: STATUS of EC2 networks")
struct UnitEC2StatusTests {
    func status(_ w: IPAMWorld) throws -> CNIError? {
        let text = w.conf().replacingOccurrences(of: #""link":"ipvlan""#, with: #""link":"host-device""#)
        do { try w.invocation(.status, "", conf: text).status(); return nil } catch { return cniError(for: error) }
    }

    @Test("50 with the reason: no credentials, ENI missing, ENI full; nil when ADD can be served")
    func reasons() throws {
        let w = IPAMWorld(#""mode":"ec2""#)
        #expect(try status(w) == nil)
        w.reg.credentialsOK = false
        let creds = try #require(try status(w))
        #expect(creds.code == 50 && creds.msg.contains("no AWS credentials"))
        w.reg.credentialsOK = true
        w.reg.limits.ipv4PerENI = 2  // the primary and 10.0.1.11: full
        try FileIO.remove(w.dir + "/.instance-limits", .hint)  // the node's cached limits (read once per node)
        let full = try #require(try status(w))
        #expect(full.code == 50 && full.msg.contains("eni-multus is full"))
        w.eni = #"{"id":"eni-gone"}"#
        let gone = try #require(try status(w))
        #expect(gone.code == 50 && gone.msg.contains("no ENI of this instance"))
    }
}

@Suite("Unit: IPAM mode prefix")
struct UnitPrefixModeTests {
    @Test("16 ADDs from one /28 cost one EC2 call; the 17th grows by one prefix")
    func oneCallPerSixteen() throws {
        let w = IPAMWorld(#""mode":"prefix","cooldownSeconds":0"#)
        var calls: [String] = []
        var got: [IPAddress] = []
        for i in 0..<16 { calls += try w.ec2Calls { got += try w.add("c\(i)").map(\.address) } }
        #expect(calls == ["describe", "describeInstanceTypes", "assignPrefix4"])
        #expect(w.multus.prefixes.count == 1)
        let p = w.multus.prefixes[0]
        #expect(p.length == 28 && got.allSatisfy { p.contains($0) } && Set(got).count == 16)
        #expect(try w.ec2Calls { try w.add("c16") } == ["assignPrefix4"])
        #expect(w.multus.prefixes.count == 2)
        // Results carry the subnet's length and gateway, not the prefix's.
        #expect(try w.add("c17")[0].length == 24)
        // Steady state: ADD/DEL churn inside held prefixes makes no call at all.
        let churn = try w.ec2Calls { for i in 0..<40 { try w.add("k\(i)"); try w.del("k\(i)") } }
        #expect(churn.isEmpty)
    }

    @Test("the ENI's limit stops growth: ADD fails with code 102 and leaves nothing")
    func exhaustion() throws {
        let w = IPAMWorld(#""mode":"prefix","cooldownSeconds":0"#)
        w.reg.limits.ipv4PerENI = 4  // primary, 10.0.1.11, 2 prefixes = 32 addresses
        for i in 0..<32 { try w.add("c\(i)") }
        #expect(w.multus.prefixes.count == 2)
        let e = cniError(for: try w.failingAdd("c32"))
        #expect(e.code == 102 && e.msg.contains("no slot for another") && e.msg.contains("4 of 4"))
        #expect(try FileIO.list("\(w.dir)/n1/attachments").count == 32)
        #expect(try w.unavailability()?.contains("full") == true)
        try w.del("c0")
        #expect(try w.unavailability() == nil)
        try w.add("c32")
    }

    @Test("the ENI's limit reached and every other address held: ADD reuses a cooling address rather than failing")
    func fullPrefixesReuseCoolingAddress() throws {
        let w = IPAMWorld(#""mode":"prefix""#)
        w.reg.limits.ipv4PerENI = 3  // primary, 10.0.1.11, one /28
        var got: [IPAddress] = []
        for i in 0..<16 { got += try w.add("c\(i)").map(\.address) }
        try w.del("c3")
        #expect(try w.unavailability() == nil, "STATUS: the cooling address can serve the next ADD")
        var reused: [IPAddress] = []
        let calls = try w.ec2Calls { reused = try w.add("n1").map(\.address) }
        #expect(reused == [got[3]])
        #expect(calls.isEmpty, "no slot for another prefix: no EC2 call, the cooling address instead (\(calls))")
        #expect(w.multus.prefixes.count == 1)
        #expect(cniError(for: try w.failingAdd("n2")).code == 102)
    }

    @Test("a prefix empty for prefixReleaseSeconds is returned; one in use or cooling is kept")
    func returnsEmpty() throws {
        let w = IPAMWorld(#""mode":"prefix","cooldownSeconds":10,"prefixReleaseSeconds":60"#)
        for i in 0..<17 { try w.add("c\(i)") }  // two prefixes
        #expect(w.multus.prefixes.count == 2)
        for i in 0..<17 { try w.del("c\(i)") }
        try w.gc(valid: [])
        #expect(w.multus.prefixes.count == 2, "cooling addresses keep them")
        w.clock += 10
        try w.gc(valid: [])
        w.clock += 59
        try w.gc(valid: [])
        #expect(w.multus.prefixes.count == 2)
        w.clock += 1
        #expect(try w.ec2Calls { try w.gc(valid: []) }.contains("unassignPrefix"))
        #expect(w.multus.prefixes.isEmpty)
        #expect(try w.ec2Calls { try w.add("again") } == ["assignPrefix4"])
    }

    @Test("warmAddresses keeps free addresses on hand, growing ahead and not returning below it")
    func warm() throws {
        let w = IPAMWorld(#""mode":"prefix","cooldownSeconds":0,"warmAddresses":20,"prefixReleaseSeconds":0"#)
        try w.add("c0")
        // 1 used: 15 free in the first prefix < 20, so one more prefix was taken at once.
        #expect(w.multus.prefixes.count == 2)
        try w.del("c0")
        try w.gc(valid: [])
        // 32 free; returning one would leave 16 < 20: both kept.
        #expect(w.multus.prefixes.count == 2)
    }

    @Test("cooldown: a released address is not handed out again within cooldownSeconds")
    func cooldown() throws {
        let w = IPAMWorld(#""mode":"prefix""#)
        let a = try w.add("c0")[0].address
        try w.del("c0")
        for i in 1..<15 { #expect(try w.add("c\(i)")[0].address != a) }
        w.clock += 30
        var again = false
        for i in 15..<17 { if try w.add("c\(i)")[0].address == a { again = true } }
        #expect(again)
    }

    @Test("dual-stack: a /28 and a /80, addresses with the subnets' lengths")
    func dualStack() throws {
        let w = IPAMWorld(#""mode":"prefix","families":["ipv4","ipv6"]"#)
        let ips = try w.add("c0")
        #expect(ips.map(\.length) == [24, 64])
        #expect(w.multus.prefixes.map(\.length).sorted() == [28, 80])
        #expect(w.multus.prefixes.contains { $0.contains(ips[1].address) })
    }
}

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
}
