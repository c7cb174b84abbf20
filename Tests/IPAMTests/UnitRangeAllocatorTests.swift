// RangeAllocator: allocation order, requested addresses, release, check and exhaustion.

import Testing
import Platform
@testable import IPAM
import CNI
import JSON
import NetTypes
import NodeState

@Suite struct UnitRangeAllocatorTests {
    // MARK: order

    @Test func firstAddressIsDotTwoWithGatewayAndPrefix() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.10.0.0/24")
            let r = try a.allocate(key("c1"), requested: [])
            #expect(r.count == 1)
            #expect(r[0].address == IPPrefix("10.10.0.2/24")!)
            #expect(r[0].gateway == ip("10.10.0.1"))
            #expect(r[0].interface == nil)
        }
    }

    @Test func sequentialAllocationsAreConsecutive() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.10.0.0/24")
            var got: [IPAddress] = []
            for i in 0..<5 { got += try alloc(a, key("c\(i)")) }
            #expect(got == (2...6).map { ip("10.10.0.\($0)") })
        }
    }

    @Test func roundRobinDoesNotReuseAReleasedAddressImmediately() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.10.0.0/24")
            let x = try alloc(a, key("a"))
            let y = try alloc(a, key("b"))
            try a.release(key("a"))
            let z = try alloc(a, key("c"))
            #expect(x == [ip("10.10.0.2")])
            #expect(y == [ip("10.10.0.3")])
            #expect(z == [ip("10.10.0.4")], "the next allocation continues after the cursor, not at the freed .2")
        }
    }

    @Test func wrapsAroundAfterTheEndToFreedAddresses() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.11.0.0/24", start: "10.11.0.10", end: "10.11.0.13")
            for i in 0..<4 { _ = try alloc(a, key("c\(i)")) }   // .10 .11 .12 .13
            try a.release(key("c1"))                             // frees .11
            #expect(try alloc(a, key("n1")) == [ip("10.11.0.11")])
            try a.release(key("c0"))                             // frees .10, cursor at .11
            try a.release(key("c3"))                             // frees .13
            #expect(try alloc(a, key("n2")) == [ip("10.11.0.13")])
            #expect(try alloc(a, key("n3")) == [ip("10.11.0.10")], "wraps from rangeEnd to rangeStart")
        }
    }

    @Test func wrapsAcrossRangesOfOneSet() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"""
            [[{"subnet":"10.12.0.0/24","rangeStart":"10.12.0.10","rangeEnd":"10.12.0.11"},
              {"subnet":"10.13.0.0/24","rangeStart":"10.13.0.20","rangeEnd":"10.13.0.21"}]]
            """#)
            var got: [IPAddress] = []
            for i in 0..<4 { got += try alloc(a, key("c\(i)")) }
            #expect(got == ["10.12.0.10", "10.12.0.11", "10.13.0.20", "10.13.0.21"].map(ip))
            try a.release(key("c0"))
            #expect(try alloc(a, key("c4")) == [ip("10.12.0.10")])
            guard case .exhausted(_, let ranges)? = ipamError({ _ = try alloc(a, key("c5")) }) else {
                Issue.record("expected exhausted"); return
            }
            #expect(ranges == "10.12.0.10-10.12.0.11, 10.13.0.20-10.13.0.21")
            // Each address gets its own range's gateway.
            try a.release(key("c2"))
            let r = try a.allocate(key("c6"), requested: [])
            #expect(r[0].address == IPPrefix("10.13.0.20/24")!)
            #expect(r[0].gateway == ip("10.13.0.1"))
        }
    }

    @Test func gatewayNetworkAndBroadcastAreNeverHandedOut() throws {
        try withTempDir { (d: String) throws in
            // rangeStart at the network address and rangeEnd at the broadcast: only .2-.6 are assignable (.1 gateway).
            let a = allocator(d, subnet: "10.14.0.0/29", start: "10.14.0.0", end: "10.14.0.7")
            var got: [IPAddress] = []
            while true {
                do { got += try alloc(a, key("c\(got.count)")) } catch { break }
            }
            #expect(got == (2...6).map { ip("10.14.0.\($0)") })
        }
    }

    @Test func explicitGatewayInTheMiddleIsSkipped() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.15.0.0/24", start: "10.15.0.1", end: "10.15.0.4", gateway: "10.15.0.2")
            var got: [IPAddress] = []
            for i in 0..<3 { got += try alloc(a, key("c\(i)")) }
            #expect(got == ["10.15.0.1", "10.15.0.3", "10.15.0.4"].map(ip))
            #expect(ipamError { _ = try alloc(a, key("c9")) } != nil)
        }
    }

    @Test func dualStackGivesOneAddressPerSet() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.16.0.0/24"}],[{"subnet":"fd00:16::/64"}]]"#)
            let r = try a.allocate(key("c1"), requested: [])
            #expect(r.count == 2)
            #expect(r[0].address == IPPrefix("10.16.0.2/24")!)
            #expect(r[0].gateway == ip("10.16.0.1"))
            #expect(r[1].address == IPPrefix("fd00:16::2/64")!)
            #expect(r[1].gateway == ip("fd00:16::1"))
            let r2 = try alloc(a, key("c2"))
            #expect(r2 == [ip("10.16.0.3"), ip("fd00:16::3")])
            #expect(try a.addresses(of: key("c1")) == [ip("10.16.0.2"), ip("fd00:16::2")])
            try a.release(key("c1"))
            #expect(FileIO.exists(a.root + "/ips/fd00:16::2") == false)
            #expect(FileIO.exists(a.root + "/ips/10.16.0.2") == false)
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func distinctNetworksHaveIndependentStores() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.17.0.0/24", network: "netA")
            let b = allocator(d, subnet: "10.17.0.0/24", network: "netB")
            #expect(try alloc(a, key("c1")) == [ip("10.17.0.2")])
            #expect(try alloc(b, key("c1")) == [ip("10.17.0.2")])
            try a.release(key("c1"))
            #expect(try b.addresses(of: key("c1")) == [ip("10.17.0.2")])
        }
    }

    @Test func sameContainerDifferentIfnamesAreDifferentAttachments() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.18.0.0/24")
            #expect(try alloc(a, key("c1", "eth0")) == [ip("10.18.0.2")])
            #expect(try alloc(a, key("c1", "net1")) == [ip("10.18.0.3")])
            try a.release(key("c1", "eth0"))
            #expect(try a.addresses(of: key("c1", "net1")) == [ip("10.18.0.3")])
        }
    }

    @Test func duplicateAllocationForTheSameKeyIsAnError() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.19.0.0/24")
            _ = try alloc(a, key("c1"))
            let e = ipamError { _ = try alloc(a, key("c1")) }
            guard case .duplicateAllocation(let c, let i, let addrs)? = e else {
                Issue.record("expected duplicateAllocation, got \(String(describing: e))"); return
            }
            #expect(c == "c1")
            #expect(i == "eth0")
            #expect(addrs == "10.19.0.2")
            #expect(e!.description.contains("10.19.0.2"))
            // Nothing changed on disk.
            #expect(listDir(a.root + "/ips") == ["10.19.0.2"])
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.19.0.2")
        }
    }

    @Test func corruptCursorFallsBackToRangeStart() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.20.0.0/24")
            _ = try alloc(a, key("c1"))
            writeFile(a.root + "/last_reserved_ip.0", "garbage\n")
            #expect(try alloc(a, key("c2")) == [ip("10.20.0.3")])
        }
    }

    @Test func cursorOutsideTheRangesStartsAtRangeStart() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.21.0.0/24")
            _ = try alloc(a, key("c1"))
            writeFile(a.root + "/last_reserved_ip.0", "192.168.1.1")
            #expect(try alloc(a, key("c2")) == [ip("10.21.0.3")])
            // A cursor with a trailing newline (as written by hand or by host-local) is honoured.
            writeFile(a.root + "/last_reserved_ip.0", "10.21.0.100\n")
            #expect(try alloc(a, key("c3")) == [ip("10.21.0.101")])
        }
    }

    // MARK: requested addresses

    @Test func requestedAddressWithinTheSet() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.30.0.0/24")
            let r = try a.allocate(key("c1"), requested: [RequestedIP("10.30.0.77")!])
            #expect(r.map(\.address) == [IPPrefix("10.30.0.77/24")!])
            #expect(r[0].gateway == ip("10.30.0.1"))
            // A requested address does not move the cursor: the next free one is still .2.
            #expect(try alloc(a, key("c2")) == [ip("10.30.0.2")])
            #expect(fileText(a.root + "/ips/10.30.0.77") == "c1\neth0\n")
        }
    }

    @Test func requestedAddressWithMatchingPrefixLength() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.31.0.0/24")
            #expect(try alloc(a, key("c1"), ["10.31.0.9/24"]) == [ip("10.31.0.9")])
        }
    }

    @Test func requestedPrefixLengthMismatch() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.32.0.0/24")
            let e = ipamError { _ = try alloc(a, key("c1"), ["10.32.0.9/16"]) }
            guard case .requestedInvalid(let addr, let why)? = e else {
                Issue.record("expected requestedInvalid, got \(String(describing: e))"); return
            }
            #expect(addr == "10.32.0.9/16")
            #expect(why.contains("10.32.0.0/24"))
            #expect(listDir(a.root + "/attachments") == [])
        }
    }

    @Test func requestedAddressHeldByAnotherNamesTheHolder() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.33.0.0/24")
            _ = try alloc(a, key("holder", "net7"), ["10.33.0.50"])
            let e = ipamError { _ = try alloc(a, key("c2"), ["10.33.0.50"]) }
            guard case .requestedUnavailable(let addr, let why)? = e else {
                Issue.record("expected requestedUnavailable, got \(String(describing: e))"); return
            }
            #expect(addr == "10.33.0.50")
            #expect(why.contains("holder/net7"))
            #expect(try a.addresses(of: key("c2")) == nil)
        }
    }

    @Test(arguments: ["10.34.0.1", "10.34.0.0", "10.34.0.255"])
    func requestedGatewayNetworkOrBroadcastIsRefused(_ addr: String) throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.34.0.0/24", start: "10.34.0.0", end: "10.34.0.255")
            let e = ipamError { _ = try alloc(a, key("c1"), [addr]) }
            guard case .requestedInvalid(let got, _)? = e else {
                Issue.record("expected requestedInvalid for \(addr), got \(String(describing: e))"); return
            }
            #expect(got == addr)
        }
    }

    @Test func requestedDefaultGatewayIsRefused() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.34.0.0/24")
            let e = ipamError { _ = try alloc(a, key("c1"), ["10.34.0.1"]) }
            guard case .requestedInvalid? = e else {
                Issue.record("expected requestedInvalid, got \(String(describing: e))"); return
            }
        }
    }

    @Test(arguments: ["10.99.0.5", "10.35.0.250", "fd00::5"])
    func requestedOutsideEveryRange(_ addr: String) throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.35.0.0/24", start: "10.35.0.10", end: "10.35.0.20")
            let e = ipamError { _ = try alloc(a, key("c1"), [addr]) }
            guard case .requestedOutOfRange(let got)? = e else {
                Issue.record("expected requestedOutOfRange for \(addr), got \(String(describing: e))"); return
            }
            #expect(got == addr)
        }
    }

    @Test func twoRequestedInOneSet() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.36.0.0/24")
            let e = ipamError { _ = try alloc(a, key("c1"), ["10.36.0.5", "10.36.0.6"]) }
            guard case .requestedTwice(let set, let addrs)? = e else {
                Issue.record("expected requestedTwice, got \(String(describing: e))"); return
            }
            #expect(set == 0)
            #expect(addrs.contains("10.36.0.5") && addrs.contains("10.36.0.6"))
            #expect(listDir(a.root + "/ips") == [])
        }
    }

    @Test func requestedInOneSetAutomaticInTheOther() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.37.0.0/24"}],[{"subnet":"fd00:37::/64"}]]"#)
            #expect(try alloc(a, key("c1"), ["fd00:37::abcd"]) == [ip("10.37.0.2"), ip("fd00:37::abcd")])
            #expect(try alloc(a, key("c2"), ["10.37.0.99", "fd00:37::99"]) == [ip("10.37.0.99"), ip("fd00:37::99")])
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func failedDualStackAllocationLeavesNothingBehind() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.38.0.0/24"}],[{"subnet":"fd00:38::/120","rangeStart":"fd00:38::2","rangeEnd":"fd00:38::2"}]]"#)
            _ = try alloc(a, key("c1"))
            let e = ipamError { _ = try alloc(a, key("c2")) }
            guard case .exhausted(let set, _)? = e else {
                Issue.record("expected exhausted, got \(String(describing: e))"); return
            }
            #expect(set == 1)
            #expect(try a.addresses(of: key("c2")) == nil)
            #expect(listDir(a.root + "/ips") == ["10.38.0.2", "fd00:38::2"])
            #expect(storeProblems(a).problems == [])
        }
    }

    // MARK: release

    @Test func releaseIsIdempotent() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.40.0.0/24")
            _ = try alloc(a, key("c1"))
            try a.release(key("c1"))
            try a.release(key("c1"))
            try a.release(key("never-seen", "eth3"))
            #expect(listDir(a.root + "/ips") == [])
            #expect(listDir(a.root + "/attachments") == [])
            #expect(try a.addresses(of: key("c1")) == nil)
        }
    }

    @Test func releaseBeforeTheStoreExists() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.41.0.0/24", network: "never-used")
            try a.release(key("c1"))
            #expect(!FileIO.exists(a.root), "DEL must not create the store")
        }
    }

    @Test func releaseFreesTheAddressForReuse() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.42.0.0/30")  // only .2 assignable
            #expect(try alloc(a, key("c1")) == [ip("10.42.0.2")])
            try a.release(key("c1"))
            #expect(try alloc(a, key("c2")) == [ip("10.42.0.2")])
        }
    }

    @Test func releaseLeavesAnotherOwnersAddressFileAlone() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.43.0.0/24")
            _ = try alloc(a, key("c1"))          // .2
            _ = try alloc(a, key("c2"))          // .3
            // c1's record claims .3 too (e.g. a stale record): releasing c1 must not free c2's address.
            writeFile(a.recordPath(key("c1")), String(decoding: AttachmentRecord.encode(key("c1"), [ip("10.43.0.2"), ip("10.43.0.3")]), as: UTF8.self))
            try a.release(key("c1"))
            #expect(fileText(a.root + "/ips/10.43.0.3") == "c2\neth0\n")
            #expect(!FileIO.exists(a.root + "/ips/10.43.0.2"))
            #expect(storeProblems(a).problems == [])
        }
    }

    // MARK: check

    @Test func checkSucceedsForAMatchingPrevResult() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.50.0.0/24"}],[{"subnet":"fd00:50::/64"}]]"#)
            let got = try alloc(a, key("c1"))
            try a.check(key("c1"), expected: got)
            try a.check(key("c1"), expected: got.reversed())
            // Addresses outside our ranges (another IPAM's) are ignored.
            try a.check(key("c1"), expected: got + [ip("192.168.99.1")])
        }
    }

    @Test func checkFailsWhenNothingIsReserved() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.51.0.0/24")
            let e = ipamError { try a.check(key("c1"), expected: [ip("10.51.0.2")]) }
            guard case .checkFailed(let msg)? = e else {
                Issue.record("expected checkFailed, got \(String(describing: e))"); return
            }
            #expect(msg.contains("c1/eth0"))
            #expect(msg.contains("net1"))
        }
    }

    @Test func checkFailsWhenTheAddressFileIsMissingOrForeign() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.52.0.0/24")
            _ = try alloc(a, key("c1"))
            try FileIO.remove(a.root + "/ips/10.52.0.2", .durable)
            guard case .checkFailed(let m1)? = ipamError({ try a.check(key("c1"), expected: [ip("10.52.0.2")]) }) else {
                Issue.record("missing address file not detected"); return
            }
            #expect(m1.contains("10.52.0.2"))
            writeFile(a.root + "/ips/10.52.0.2", "other\neth0\n")
            guard case .checkFailed? = ipamError({ try a.check(key("c1"), expected: [ip("10.52.0.2")]) }) else {
                Issue.record("foreign address file not detected"); return
            }
        }
    }

    @Test func checkFailsWhenThePrevResultDiffers() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.53.0.0/24"}],[{"subnet":"fd00:53::/64"}]]"#)
            _ = try alloc(a, key("c1"))
            for expected in [[ip("10.53.0.3"), ip("fd00:53::2")], [ip("10.53.0.2")], [],
                             [ip("10.53.0.2"), ip("fd00:53::2"), ip("10.53.0.9")]] {
                guard case .checkFailed(let m)? = ipamError({ try a.check(key("c1"), expected: expected) }) else {
                    Issue.record("prevResult \(expected) accepted"); continue
                }
                #expect(m.contains("10.53.0.2"))
            }
        }
    }

    // MARK: exhaustion

    @Test func exhaustionOfASmallRange() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.60.0.0/29", start: "10.60.0.2", end: "10.60.0.6")
            #expect(try a.exhaustion() == nil)
            var got: [IPAddress] = []
            for i in 0..<5 { got += try alloc(a, key("c\(i)")) }
            #expect(got == (2...6).map { ip("10.60.0.\($0)") })
            let e = ipamError { _ = try alloc(a, key("c5")) }
            guard case .exhausted(let set, let ranges)? = e else {
                Issue.record("expected exhausted, got \(String(describing: e))"); return
            }
            #expect(set == 0)
            #expect(ranges == "10.60.0.2-10.60.0.6")
            #expect(e!.description.contains("no IP addresses available"))
            #expect(try a.addresses(of: key("c5")) == nil)
            let reason = try a.exhaustion()
            #expect(reason != nil)
            #expect(reason?.contains("range set 0") == true)
            #expect(reason?.contains("5 of 5") == true)
            try a.release(key("c3"))
            #expect(try a.exhaustion() == nil)
            #expect(try alloc(a, key("c5")) == [ip("10.60.0.5")])
            #expect(try a.exhaustion() != nil)
        }
    }

    @Test func exhaustionCountsOnlyAssignableAddresses() throws {
        try withTempDir { (d: String) throws in
            // Whole /29 with the network, gateway and broadcast inside start...end: capacity 5.
            let a = allocator(d, subnet: "10.61.0.0/29", start: "10.61.0.0", end: "10.61.0.7")
            for i in 0..<5 { _ = try alloc(a, key("c\(i)")) }
            #expect(try a.exhaustion()?.contains("5 of 5") == true)
        }
    }

    @Test func exhaustionNamesTheExhaustedSetOfTwo() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.62.0.0/24"}],[{"subnet":"fd00:62::/126"}]]"#)
            // v6 /126: ::0 network, ::1 gateway; ::2 and ::3 assignable.
            _ = try alloc(a, key("c1"))
            #expect(try a.exhaustion() == nil)
            _ = try alloc(a, key("c2"))
            let reason = try a.exhaustion()
            #expect(reason?.contains("range set 1") == true)
            guard case .exhausted(let set, _)? = ipamError({ _ = try alloc(a, key("c3")) }) else {
                Issue.record("expected exhausted"); return
            }
            #expect(set == 1)
        }
    }

    @Test func exhaustionOfAnUnusedStoreIsNil() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.63.0.0/30", network: "fresh")
            #expect(try a.exhaustion() == nil)
        }
    }
}
