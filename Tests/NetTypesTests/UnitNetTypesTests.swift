import Testing
import NetTypes

/// The value types every layer shares: parsing is strict, printing canonical (RFC 5952 for IPv6, lower-case MACs),
/// arithmetic stays within a family.
@Suite struct UnitNetTypesTests {
    @Test("IPv4 and IPv6 parse and print canonically", arguments: [
        ("10.0.0.1", "10.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::", "::"), ("::1", "::1"), ("fe80::", "fe80::"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1"), ("1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"), ("fd00:0:0:0:1::", "fd00::1:0:0:0"),
    ])
    func addresses(text: String, canonical: String) throws {
        let a = try #require(IPAddress(text))
        #expect(a.description == canonical)
        #expect(IPAddress(canonical) == a)
        #expect(IPAddress(bytes: a.bytes) == a)
        #expect(a.isV4 == !text.contains(":"))
    }

    @Test("malformed addresses are refused", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "a.b.c.d", "1.2.3.4 ", "1::2::3", "12345::", ":::", "1:2:3:4:5:6:7:8:9", "g::1",
    ])
    func badAddresses(text: String) {
        #expect(IPAddress(text) == nil, "\(text.debugDescription)")
    }

    @Test func arithmeticAndOrder() throws {
        let a = try #require(IPAddress("10.0.0.255"))
        #expect(a.next() == IPAddress("10.0.1.0"))
        #expect(a.previous() == IPAddress("10.0.0.254"))
        #expect(a.advanced(by: 257) == IPAddress("10.0.2.0"))
        #expect(a.distance(to: IPAddress("10.0.1.9")!) == 10)
        #expect(IPAddress("10.0.0.2")! < IPAddress("10.0.0.10")!)
        #expect(IPAddress("fd00::ff")!.next() == IPAddress("fd00::100"))
        #expect(IPAddress("fd00::1")! < IPAddress("fd00::1:0")!)
    }

    @Test func prefixes() throws {
        let p = try #require(IPPrefix("10.1.2.3/24"))
        #expect(p.description == "10.1.2.3/24")
        #expect(p.networkAddress == IPAddress("10.1.2.0") && p.lastAddress == IPAddress("10.1.2.255"))
        #expect(p.network.description == "10.1.2.0/24")
        #expect(p.contains(IPAddress("10.1.2.200")!) && !p.contains(IPAddress("10.1.3.0")!) && !p.contains(IPAddress("fd00::1")!))
        #expect(p.overlaps(IPPrefix("10.1.0.0/16")!) && !p.overlaps(IPPrefix("10.1.3.0/24")!))
        #expect(IPPrefix("10.0.0.1/32")!.isHostPrefix && !p.isHostPrefix)
        let v6 = try #require(IPPrefix("fd00:1::5/80"))
        #expect(v6.networkAddress == IPAddress("fd00:1::") && v6.contains(IPAddress("fd00:1::ffff:1")!))
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0", "fd00::/129", "10.0.0.0/8/8", "/24"] {
            #expect(IPPrefix(bad) == nil, "\(bad)")
        }
    }

    @Test func macAddresses() throws {
        let m = try #require(MACAddress("02:AB:cd:00:11:ff"))
        #expect(m.description == "02:ab:cd:00:11:ff")
        #expect(MACAddress("02-ab-cd-00-11-ff") == m)
        #expect(MACAddress(bytes: m.bytes) == m)
        for bad in ["", "02:ab:cd:00:11", "02:ab:cd:00:11:ff:00", "2:ab:cd:00:11:ff", "02:ab:cd:00:11:fg", "02ab.cd00.11ff"] {
            #expect(MACAddress(bad) == nil, "\(bad)")
        }
        #expect(MACAddress(bytes: [1, 2, 3]) == nil)
    }
}
