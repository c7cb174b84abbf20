// IPAMConfig: host-local-compatible `ranges` / `subnet` / `rangeStart` / `rangeEnd` / `gateway` / `routes` /
// `dataDir` parsing and validation.

import Testing
@testable import IPAM
import CNI
import JSON
import NetTypes
import NodeState

@Suite struct UnitIPAMConfigTests {
    // MARK: defaults

    @Test func v4DefaultsMatchHostLocal() throws {
        let c = try ipamConfig(#"{"type":"eni-multus","ranges":[[{"subnet":"10.1.2.0/24"}]]}"#)
        #expect(c.mode == .ranges)
        #expect(c.dataDir == "/var/lib/cni/eni-multus")
        #expect(c.routes.isEmpty)
        #expect(c.rangeSets.count == 1)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.subnet == IPPrefix("10.1.2.0/24")!)
        #expect(r.rangeStart == ip("10.1.2.1"))
        #expect(r.rangeEnd == ip("10.1.2.254"))
        #expect(r.gateway == ip("10.1.2.1"))
        #expect(c.rangeSets[0].isV4)
        // .1 is the gateway, .0 the network, .255 the broadcast: none assignable.
        #expect(!r.isAssignable(ip("10.1.2.0")))
        #expect(!r.isAssignable(ip("10.1.2.1")))
        #expect(r.isAssignable(ip("10.1.2.2")))
        #expect(r.isAssignable(ip("10.1.2.254")))
        #expect(!r.isAssignable(ip("10.1.2.255")))
        #expect(r.size == 254)
    }

    @Test func v6DefaultsEndAtTheLastAddress() throws {
        let c = try ipamConfig(#"{"ranges":[[{"subnet":"2001:db8:1::/64"}]]}"#)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.rangeStart == ip("2001:db8:1::1"))
        #expect(r.rangeEnd == ip("2001:db8:1::ffff:ffff:ffff:ffff"))
        #expect(r.gateway == ip("2001:db8:1::1"))
        #expect(!c.rangeSets[0].isV4)
        // No broadcast in IPv6: the last address is assignable.
        #expect(r.isAssignable(ip("2001:db8:1::ffff:ffff:ffff:ffff")))
        #expect(!r.isAssignable(ip("2001:db8:1::1")))
        #expect(r.size == Int64.max)   // saturated
    }

    @Test func explicitStartEndGateway() throws {
        let c = try ipamConfig(#"""
        {"ranges":[[{"subnet":"192.168.10.0/24","rangeStart":"192.168.10.100","rangeEnd":"192.168.10.199","gateway":"192.168.10.254"}]]}
        """#)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.rangeStart == ip("192.168.10.100"))
        #expect(r.rangeEnd == ip("192.168.10.199"))
        #expect(r.gateway == ip("192.168.10.254"))
        #expect(r.size == 100)
        #expect(r.contains(ip("192.168.10.150")))
        #expect(!r.contains(ip("192.168.10.99")))
        #expect(!r.contains(ip("192.168.10.200")))
    }

    @Test func explicitGatewayKeepsDefaultStartAtNetworkPlusOne() throws {
        // host-local: rangeStart defaults to network+1 whatever the gateway is.
        let c = try ipamConfig(#"{"ranges":[[{"subnet":"10.3.0.0/24","gateway":"10.3.0.254"}]]}"#)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.rangeStart == ip("10.3.0.1"))
        #expect(r.rangeEnd == ip("10.3.0.254"))
        #expect(r.isAssignable(ip("10.3.0.1")))
        #expect(!r.isAssignable(ip("10.3.0.254")))
    }

    @Test func explicitRangeEndAtBroadcastIsKeptButNotAssignable() throws {
        let c = try ipamConfig(#"{"ranges":[[{"subnet":"10.4.0.0/29","rangeEnd":"10.4.0.7"}]]}"#)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.rangeEnd == ip("10.4.0.7"))
        #expect(assignable(r) == (2...6).map { ip("10.4.0.\($0)") })
    }

    @Test func legacySingleSubnetForm() throws {
        let c = try ipamConfig(#"{"type":"eni-multus","subnet":"10.5.0.0/16","rangeStart":"10.5.1.0","rangeEnd":"10.5.1.255","gateway":"10.5.0.1","dataDir":"/tmp/x"}"#)
        #expect(c.rangeSets.count == 1)
        #expect(c.rangeSets[0].ranges.count == 1)
        let r = c.rangeSets[0].ranges[0]
        #expect(r.subnet == IPPrefix("10.5.0.0/16")!)
        #expect(r.rangeStart == ip("10.5.1.0"))
        #expect(r.rangeEnd == ip("10.5.1.255"))
        #expect(r.gateway == ip("10.5.0.1"))
        #expect(c.dataDir == "/tmp/x")
    }

    @Test func legacySubnetErrorsNameTheTopLevelField() {
        let e = configError(#"{"subnet":"10.5.0.1/16"}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.subnet") == true)
        #expect(e?.msg.contains("10.5.0.0") == true)
    }

    @Test func dualStackAndMultiRangeSets() throws {
        let c = try ipamConfig(#"""
        {"ranges":[[{"subnet":"10.6.0.0/24"},{"subnet":"10.7.0.0/24"}],[{"subnet":"fd00:6::/120"}]]}
        """#)
        #expect(c.rangeSets.count == 2)
        #expect(c.rangeSets[0].ranges.count == 2)
        #expect(c.rangeSets[0].isV4)
        #expect(!c.rangeSets[1].isV4)
        #expect(c.rangeSets[0].range(containing: ip("10.7.0.9"))?.subnet == IPPrefix("10.7.0.0/24")!)
        #expect(c.rangeSets[1].ranges[0].rangeEnd == ip("fd00:6::ff"))
    }

    @Test func routesAreParsed() throws {
        let c = try ipamConfig(#"""
        {"ranges":[[{"subnet":"10.8.0.0/24"}]],
         "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.5.7/24","gw":"10.8.0.254"},{"dst":"::/0","gw":"fd00::1"}]}
        """#)
        #expect(c.routes.count == 3)
        #expect(c.routes[0].dst == IPPrefix("0.0.0.0/0")!)
        #expect(c.routes[0].gw == nil)
        #expect(c.routes[1].dst == IPPrefix("192.168.5.0/24")!)   // normalised to the network
        #expect(c.routes[1].gw == ip("10.8.0.254"))
        #expect(c.routes[2].gw == ip("fd00::1"))
    }

    @Test func nullRoutesAndNullOptionalKeysAreIgnored() throws {
        let c = try ipamConfig(#"{"routes":null,"mode":null,"dataDir":null,"ranges":[[{"subnet":"10.8.0.0/24","gateway":null}]]}"#)
        #expect(c.routes.isEmpty)
        #expect(c.dataDir == NodeStateLayout.defaultDataDir)
        #expect(c.rangeSets[0].ranges[0].gateway == ip("10.8.0.1"))
    }

    // MARK: errors

    @Test func hostBitsSetIsCode7NamingTheNetworkAddress() {
        let e = configError(#"{"ranges":[[{"subnet":"10.1.2.3/24"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[0][0].subnet") == true)
        #expect(e?.msg.contains("10.1.2.0") == true)
        let e6 = configError(#"{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::5/64"}]]}"#)
        #expect(e6?.code == 7)
        #expect(e6?.msg.contains("ipam.ranges[1][0].subnet") == true)
        #expect(e6?.msg.contains("fd00::") == true)
    }

    @Test(arguments: ["10.0.0.0/31", "10.0.0.1/32", "10.0.0.0/32", "fd00::/127", "fd00::/128"])
    func tooSmallSubnetsAreRejected(_ subnet: String) {
        let e = configError(#"{"ranges":[[{"subnet":"\#(subnet)"}]]}"#)
        #expect(e?.code == 7, "\(subnet) must be rejected")
        #expect(e?.msg.contains("ipam.ranges[0][0].subnet") == true)
    }

    @Test(arguments: ["10.0.0.0/30", "fd00::/126"])
    func smallestAllowedSubnets(_ subnet: String) throws {
        let c = try ipamConfig(#"{"ranges":[[{"subnet":"\#(subnet)"}]]}"#)
        #expect(assignable(c.rangeSets[0].ranges[0]).count >= 1)
    }

    @Test func rangeStartOutsideTheSubnet() {
        let e = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"10.1.3.5"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[0][0].rangeStart") == true)
        #expect(e?.msg.contains("10.1.3.5") == true)
    }

    @Test func rangeEndAndGatewayOutsideTheSubnet() {
        let e1 = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","rangeEnd":"10.1.9.5"}]]}"#)
        #expect(e1?.code == 7)
        #expect(e1?.msg.contains("ipam.ranges[0][0].rangeEnd") == true)
        let e2 = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","gateway":"10.9.9.9"}]]}"#)
        #expect(e2?.code == 7)
        #expect(e2?.msg.contains("ipam.ranges[0][0].gateway") == true)
        let e3 = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","gateway":"fd00::1"}]]}"#)
        #expect(e3?.code == 7)
        #expect(e3?.msg.contains("ipam.ranges[0][0].gateway") == true)
    }

    @Test func startAfterEnd() {
        let e = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"10.1.2.50","rangeEnd":"10.1.2.40"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[0][0].rangeStart") == true)
        #expect(e?.msg.contains("10.1.2.40") == true)
    }

    @Test func notAnAddressOrNotACIDR() {
        let e1 = configError(#"{"ranges":[[{"subnet":"10.1.2.0"}]]}"#)
        #expect(e1?.code == 7)
        #expect(e1?.msg.contains("ipam.ranges[0][0].subnet") == true)
        let e2 = configError(#"{"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"banana"}]]}"#)
        #expect(e2?.code == 7)
        #expect(e2?.msg.contains("ipam.ranges[0][0].rangeStart") == true)
        let e3 = configError(#"{"ranges":[[{"subnet":42}]]}"#)
        #expect(e3?.code == 6)
        #expect(e3?.msg.contains("ipam.ranges[0][0].subnet") == true)
    }

    @Test func missingSubnetInARange() {
        let e = configError(#"{"ranges":[[{"subnet":"10.0.0.0/24"},{"rangeStart":"10.0.1.1"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[0][1].subnet") == true)
    }

    @Test func malformedRangeSets() {
        let notArray = configError(#"{"ranges":[{"subnet":"10.0.0.0/24"}]}"#)
        #expect(notArray?.code == 6)
        #expect(notArray?.msg.contains("ipam.ranges[0]") == true)
        let empty = configError(#"{"ranges":[[]]}"#)
        #expect(empty?.code == 7)
        #expect(empty?.msg.contains("ipam.ranges[0]") == true)
        let rangeNotObject = configError(#"{"ranges":[["10.0.0.0/24"]]}"#)
        #expect(rangeNotObject?.code == 6)
        #expect(rangeNotObject?.msg.contains("ipam.ranges[0][0]") == true)
        let rangesNotArray = configError(#"{"ranges":"10.0.0.0/24"}"#)
        #expect(rangesNotArray?.code == 6)
        #expect(rangesNotArray?.msg.contains("ipam.ranges") == true)
    }

    @Test func noRangesAtAll() {
        for text in [#"{"type":"eni-multus"}"#, #"{"ranges":[]}"#] {
            let e = configError(text)
            #expect(e?.code == 7, "\(text)")
            #expect(e?.msg.contains("ranges") == true)
        }
    }

    @Test func v4AndV6MixedInOneSet() {
        let e = configError(#"{"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[0]") == true)
        #expect(e?.msg.contains("mixes") == true)
    }

    @Test func overlappingRangesAcrossSets() {
        let e = configError(#"{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.ranges[1]") == true)
        #expect(e?.msg.contains("ipam.ranges[0]") == true)
        #expect(e?.msg.contains("overlaps") == true)
        let e6 = configError(#"{"ranges":[[{"subnet":"fd00::/64"}],[{"subnet":"fd00::/120"}]]}"#)
        #expect(e6?.code == 7)
    }

    @Test func overlappingRangesWithinOneSet() {
        let e = configError(#"{"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.200"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("overlaps") == true)
    }

    @Test func disjointSlicesOfOneSubnetAreAccepted() throws {
        let c = try ipamConfig(#"""
        {"ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.19"}],
                   [{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.20","rangeEnd":"10.0.0.29"}]]}
        """#)
        #expect(c.rangeSets.count == 2)
    }

    @Test func routesWithBadDstOrGw() {
        let base = #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#
        let bad = [
            (#"[{"dst":"nope"}]"#, "ipam.routes[0].dst"),
            (#"[{"gw":"10.0.0.1"}]"#, "ipam.routes[0].dst"),
            (#"[{"dst":"0.0.0.0/0"},{"dst":"10.1.0.0/16","gw":"10.0.0.999"}]"#, "ipam.routes[1].gw"),
            (#"[{"dst":"0.0.0.0/0","gw":"fd00::1"}]"#, "ipam.routes[0]"),
            (#"[{"dst":"0.0.0.0/0","mtu":-5}]"#, "ipam.routes[0].mtu"),
        ]
        for (routes, field) in bad {
            let e = configError("{\(base),\"routes\":\(routes)}")
            #expect(e?.code == 7, "routes \(routes)")
            #expect(e?.msg.contains(field) == true, "routes \(routes): \(e?.msg ?? "accepted")")
        }
        // A wrong JSON type is a decode failure (code 6), as for every other config field.
        let wrongType = [
            (#"["0.0.0.0/0"]"#, "ipam.routes[0]"),
            (#"{"dst":"0.0.0.0/0"}"#, "ipam.routes"),
            (#"[{"dst":10}]"#, "ipam.routes[0].dst"),
            (#"[{"dst":"0.0.0.0/0","gw":1}]"#, "ipam.routes[0].gw"),
            (#"[{"dst":"0.0.0.0/0","mtu":"1500"}]"#, "ipam.routes[0].mtu"),
        ]
        for (routes, field) in wrongType {
            let e = configError("{\(base),\"routes\":\(routes)}")
            #expect(e?.code == 6, "routes \(routes)")
            #expect(e?.msg.contains(field) == true, "routes \(routes): \(e?.msg ?? "accepted")")
        }
    }

    @Test func badMode() {
        let e = configError(#"{"mode":"vpc-prefix","ranges":[[{"subnet":"10.0.0.0/24"}]]}"#)
        #expect(e?.code == 7)
        #expect(e?.msg.contains("ipam.mode") == true)
        #expect(e?.msg.contains("vpc-prefix") == true)
        let e2 = configError(#"{"mode":1,"ranges":[[{"subnet":"10.0.0.0/24"}]]}"#)
        #expect(e2?.code == 6)
        #expect(e2?.msg.contains("ipam.mode") == true)
        #expect(configError(#"{"mode":"ranges","ranges":[[{"subnet":"10.0.0.0/24"}]]}"#) == nil)
    }

    @Test(arguments: ["var/lib/cni", "./x", "/var/lib/../etc", "/var/lib/cni/..", "..", "", "/var/lib/../\u{301}x"])
    func dataDirMustBeAbsoluteWithoutDotDot(_ dir: String) {
        let e = configError(#"{"dataDir":"\#(dir)","ranges":[[{"subnet":"10.0.0.0/24"}]]}"#)
        #expect(e?.code == 7, "dataDir \"\(dir)\"")
        #expect(e?.msg.contains("ipam.dataDir") == true)
    }

    @Test func dataDirWithDotDotInsideANameIsFine() throws {
        let c = try ipamConfig(#"{"dataDir":"/var/lib/a..b/c","ranges":[[{"subnet":"10.0.0.0/24"}]]}"#)
        #expect(c.dataDir == "/var/lib/a..b/c")
        let e = configError(#"{"dataDir":7,"ranges":[[{"subnet":"10.0.0.0/24"}]]}"#)
        #expect(e?.code == 6)
        #expect(e?.msg.contains("ipam.dataDir") == true)
    }
}
