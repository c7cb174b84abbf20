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
