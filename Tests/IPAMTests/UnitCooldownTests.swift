import Testing
import Platform
@testable import IPAM
import CNI
import NetTypes

/// A wall clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    var seconds: Int64
    init(_ s: Int64 = 1_800_000_000) { seconds = s }
    var now: @Sendable () -> Int64 { { self.seconds } }
}

@Suite("Unit: cooldown of released addresses")
struct UnitCooldownTests {
    func cooled(_ dir: String, _ clock: ManualClock, subnet: String = "10.90.0.0/29", cooldown: Int = 30) -> RangeAllocator {
        RangeAllocator(config: rangesConfig(dir, "[[{\"subnet\":\"\(subnet)\"}]]", extra: "\"cooldownSeconds\":\(cooldown)"),
                       network: "cool", now: clock.now)
    }

    @Test("the default cooldown is 30 s, and 0 turns it off")
    func defaults() throws {
        #expect(try ipamConfig(#"{"type":"eni-multus","subnet":"10.0.0.0/24"}"#).cooldownSeconds == 30)
        #expect(try ipamConfig(#"{"type":"eni-multus","subnet":"10.0.0.0/24","cooldownSeconds":0}"#).cooldownSeconds == 0)
        #expect(configError(#"{"type":"eni-multus","subnet":"10.0.0.0/24","cooldownSeconds":-1}"#)?.code == 7)
    }

    @Test("with nothing else free, the cooling address is reused at once: the cooldown is a preference")
    func releasedAddressReusedWhenNothingElseIsFree() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock)  // 10.90.0.2 … 10.90.0.6 assignable (gateway .1, broadcast .7)
            var all: [IPAddress] = []
            for i in 0..<5 { all += try alloc(a, key("c\(i)")) }
            #expect(Set(all).count == 5)
            try a.release(key("c2"))
            // Full but for the cooling one: STATUS does not call that unavailable, ADD takes it and says so.
            #expect(try a.exhaustion() == nil)
            var told: [(IPAddress, Int64)] = []
            let got = try a.allocate(key("new"), requested: [], reusedCooling: { told.append(($0, $1)) })
            #expect(got.map(\.address.address) == [all[2]])
            #expect(told.map(\.0) == [all[2]] && told.map(\.1) == [clock.seconds + 30])
            #expect(try a.coolingAddresses().isEmpty)
            // Now really full: refused (code 102 upstream), and STATUS says why.
            #expect(ipamError { _ = try alloc(a, key("more")) } != nil)
            #expect(try a.exhaustion()?.contains("5 of 5") == true)
        }
    }

    @Test("allowCooling false refuses a cooling address (prefix mode asks EC2 for another prefix first)")
    func coolingRefusedWhenNotAllowed() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock, subnet: "10.90.0.0/30")  // one assignable address: .2
            let first = try alloc(a, key("a"))
            try a.release(key("a"))
            guard case .exhausted? = ipamError({ _ = try a.allocate(key("b"), requested: [], allowCooling: false) }) else {
                Issue.record("a cooling address was handed out with allowCooling false")
                return
            }
            #expect(try a.allocate(key("b"), requested: []).map(\.address.address) == first)
        }
    }

    @Test("a one-address range: ADD, DEL, ADD again succeeds at once with the cooldown on; a runtime's rollback DEL too")
    func oneAddressRangeStaysUsable() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock, subnet: "10.90.0.0/30")
            let first = try alloc(a, key("pod1"))
            try a.release(key("pod1"))
            #expect(try alloc(a, key("pod2")) == first, "the only address, still cooling, is reused at once")
            // Multus rolls a failed ADD back by DELing every delegate: the address cools, the retry must not fail.
            try a.release(key("pod2"))
            clock.seconds += 1
            #expect(try alloc(a, key("pod2")) == first)
            try a.release(key("pod2"))
            #expect(try alloc(a, key("pod3")) == first)
        }
    }

    @Test("with free addresses elsewhere, a cooling address is skipped, not waited for")
    func coolingSkipped() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock, subnet: "10.91.0.0/28")
            let first = try alloc(a, key("a"))
            try a.release(key("a"))
            // 12 more ADD/DEL cycles, one per second: each takes an address that has not cooled yet — never `first`.
            var seen: [IPAddress] = []
            for i in 0..<12 {
                let got = try alloc(a, key("k\(i)"))
                #expect(got != first, "cooling address handed out after \(i) s")
                seen += got
                try a.release(key("k\(i)"))
                clock.seconds += 1
            }
            #expect(Set(seen).count == 12)
            // All 13 assignable addresses are now cooling: the 14th ADD takes the one whose cooldown ends first,
            // `first`, at once; the 15th the next oldest.
            #expect(try alloc(a, key("x")) == first)
            #expect(try alloc(a, key("y")) == [seen[0]])
        }
    }

    @Test("a requested address may be taken while cooling (the pod asked for it by name)")
    func requestedWhileCooling() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock)
            let got = try alloc(a, key("a"))
            try a.release(key("a"))
            #expect(try alloc(a, key("b"), [got[0].description]) == got)
            #expect(try a.coolingAddresses().isEmpty)
        }
    }

    @Test("GC removes expired cooling records and keeps live ones")
    func gcExpires() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock)
            _ = try alloc(a, key("a"))
            _ = try alloc(a, key("b"))
            try a.release(key("a"))
            clock.seconds += 20
            try a.release(key("b"))
            clock.seconds += 15  // a expired, b has 15 s left
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(try FileIO.list(a.root + "/cooling").count == 1)
            #expect(try a.coolingAddresses().count == 1)
        }
    }
}
