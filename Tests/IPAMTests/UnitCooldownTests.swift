import Testing
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

    @Test("a released address is not handed out again until its cooldown has passed")
    func releasedAddressWaits() throws {
        try withTempDir { d in
            let clock = ManualClock()
            let a = cooled(d, clock)  // 10.90.0.2 … 10.90.0.6 assignable (gateway .1, broadcast .7)
            var all: [IPAddress] = []
            for i in 0..<5 { all += try alloc(a, key("c\(i)")) }
            #expect(Set(all).count == 5)
            try a.release(key("c2"))
            // Full but for the cooling one: refused, and STATUS says why.
            #expect(ipamError { _ = try alloc(a, key("new")) } != nil)
            let why = try a.exhaustion()
            #expect(why?.contains("cooling down") == true)
            clock.seconds += 29
            #expect(ipamError { _ = try alloc(a, key("new")) } != nil)
            clock.seconds += 1
            #expect(try alloc(a, key("new")) == [all[2]])
            #expect(try a.coolingAddresses().isEmpty)
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
            // All 13 assignable addresses are now cooling: the 14th ADD waits for the oldest, `first`.
            #expect(ipamError { _ = try alloc(a, key("x")) } != nil)
            clock.seconds += 18
            #expect(try alloc(a, key("x")) == first)
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
