import CNI
import JSON
import NetTypes
import Testing

@Suite struct UnitCNIResultTests {
    static func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }
    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    /// A result that uses every field, the 1.1.0 ones included.
    static var full: CNIResult {
        var dns = CNIResult.DNS()
        dns.nameservers = ["10.0.0.2", "fd00::2"]
        dns.domain = "example.com"
        dns.search = ["a.example.com", "b.example.com"]
        dns.options = ["ndots:2"]
        return CNIResult(
            interfaces: [CNIResult.Interface(name: "net1", mac: "0a:1b:2c:3d:4e:5f", sandbox: "/var/run/netns/pod",
                                             mtu: 9001, socketPath: "/run/vhost.sock", pciID: "0000:00:06.0")],
            ips: [CNIResult.IPConfig(address: prefix("10.0.0.5/24"), gateway: ip("10.0.0.1"), interface: 0),
                  CNIResult.IPConfig(address: prefix("fd00::5/64"), gateway: nil, interface: 0)],
            routes: [CNIResult.Route(dst: prefix("0.0.0.0/0"), gw: ip("10.0.0.1"), mtu: 1500, advmss: 1460, priority: 100,
                                     table: 5, scope: 0),
                     CNIResult.Route(dst: prefix("fd00:1::/64"))],
            dns: dns)
    }

    static let dnsText = #""dns":{"nameservers":["10.0.0.2","fd00::2"],"domain":"example.com","search":["a.example.com","b.example.com"],"options":["ndots:2"]}"#

    static func oldText(_ v: String) -> String {
        #"{"cniVersion":"\#(v)","interfaces":[{"name":"net1","mac":"0a:1b:2c:3d:4e:5f","sandbox":"/var/run/netns/pod"}],"#
            + #""ips":[{"version":"4","interface":0,"address":"10.0.0.5/24","gateway":"10.0.0.1"},{"version":"6","interface":0,"address":"fd00::5/64"}],"#
            + #""routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"},{"dst":"fd00:1::/64"}],"# + dnsText + "}"
    }

    static let v100Text =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"net1","mac":"0a:1b:2c:3d:4e:5f","sandbox":"/var/run/netns/pod"}],"#
        + #""ips":[{"interface":0,"address":"10.0.0.5/24","gateway":"10.0.0.1"},{"interface":0,"address":"fd00::5/64"}],"#
        + #""routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"},{"dst":"fd00:1::/64"}],"# + dnsText + "}"

    static let v110Text =
        #"{"cniVersion":"1.1.0","interfaces":[{"name":"net1","mac":"0a:1b:2c:3d:4e:5f","mtu":9001,"sandbox":"/var/run/netns/pod","socketPath":"/run/vhost.sock","pciID":"0000:00:06.0"}],"#
        + #""ips":[{"interface":0,"address":"10.0.0.5/24","gateway":"10.0.0.1"},{"interface":0,"address":"fd00::5/64"}],"#
        + #""routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1","mtu":1500,"advmss":1460,"priority":100,"table":5,"scope":0},{"dst":"fd00:1::/64"}],"#
        + dnsText + "}"

    static func expectedText(_ v: CNIVersion) -> String {
        switch v {
        case .v0_3_0, .v0_3_1, .v0_4_0: oldText(v.rawValue)
        case .v1_0_0: v100Text
        case .v1_1_0: v110Text
        }
    }

    @Test("exact JSON text per version", arguments: CNIVersion.allCases)
    func exactText(v: CNIVersion) {
        #expect(Self.full.json(version: v).serialized() == Self.expectedText(v))
    }

    @Test("ips[].version is a string in 0.3.x/0.4.0 and absent from 1.0.0 on", arguments: CNIVersion.allCases)
    func ipVersionField(v: CNIVersion) {
        let j = Self.full.json(version: v)
        if v < .v1_0_0 {
            #expect(j["ips"]?[0]?["version"] == .string("4"))
            #expect(j["ips"]?[1]?["version"] == .string("6"))
        } else {
            #expect(j["ips"]?[0]?["version"] == nil)
            #expect(j["ips"]?[1]?["version"] == nil)
        }
    }

    @Test("1.1.0-only fields are omitted by older versions", arguments: CNIVersion.allCases)
    func extendedFields(v: CNIVersion) {
        let j = Self.full.json(version: v)
        let iface = j["interfaces"]?[0]
        let route = j["routes"]?[0]
        let present = v == .v1_1_0
        for k in ["mtu", "socketPath", "pciID"] { #expect((iface?[k] != nil) == present, "interfaces[0].\(k) in \(v.rawValue)") }
        for k in ["mtu", "advmss", "priority", "table", "scope"] { #expect((route?[k] != nil) == present, "routes[0].\(k) in \(v.rawValue)") }
        #expect(j["cniVersion"] == .string(v.rawValue))
    }

    @Test("indented output has Go's MarshalIndent layout")
    func indented() {
        var r = CNIResult(interfaces: [CNIResult.Interface(name: "net1", mac: "0a:1b:2c:3d:4e:5f", sandbox: "/p")],
                          ips: [CNIResult.IPConfig(address: Self.prefix("10.0.0.5/24"), gateway: Self.ip("10.0.0.1"), interface: 0)])
        r.routes = []
        let want = """
        {
            "cniVersion": "0.3.1",
            "interfaces": [
                {
                    "name": "net1",
                    "mac": "0a:1b:2c:3d:4e:5f",
                    "sandbox": "/p"
                }
            ],
            "ips": [
                {
                    "version": "4",
                    "interface": 0,
                    "address": "10.0.0.5/24",
                    "gateway": "10.0.0.1"
                }
            ],
            "dns": {}
        }
        """
        #expect(r.json(version: .v0_3_1).serialized(indent: 4) == want)
    }

    @Test("an empty result prints only cniVersion and an empty dns", arguments: CNIVersion.allCases)
    func emptyResult(v: CNIVersion) {
        #expect(CNIResult().json(version: v).serialized() == #"{"cniVersion":"\#(v.rawValue)","dns":{}}"#)
    }

    @Test("empty strings and zero values are omitted; table/scope 0 is kept in 1.1.0")
    func omissions() {
        let r = CNIResult(
            interfaces: [CNIResult.Interface(name: "net1", mac: "", sandbox: "", mtu: 0, socketPath: "", pciID: "")],
            ips: [CNIResult.IPConfig(address: Self.prefix("10.0.0.5/24"))],
            routes: [CNIResult.Route(dst: Self.prefix("10.1.0.0/16"), mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0)])
        #expect(r.json(version: .v1_1_0).serialized()
                == #"{"cniVersion":"1.1.0","interfaces":[{"name":"net1"}],"ips":[{"address":"10.0.0.5/24"}],"routes":[{"dst":"10.1.0.0/16","table":0,"scope":0}],"dns":{}}"#)
        #expect(r.json(version: .v0_4_0).serialized()
                == #"{"cniVersion":"0.4.0","interfaces":[{"name":"net1"}],"ips":[{"version":"4","address":"10.0.0.5/24"}],"routes":[{"dst":"10.1.0.0/16"}],"dns":{}}"#)
    }

    /// What survives printing in `v`: the 1.1.0 fields do not exist before 1.1.0.
    static func projected(_ r: CNIResult, _ v: CNIVersion) -> CNIResult {
        guard v < .v1_1_0 else { return r }
        var out = r
        out.interfaces = r.interfaces.map { var i = $0; i.mtu = nil; i.socketPath = nil; i.pciID = nil; return i }
        out.routes = r.routes.map { CNIResult.Route(dst: $0.dst, gw: $0.gw) }
        return out
    }

    @Test("decode(json(v)) round-trips for every version", arguments: CNIVersion.allCases)
    func roundTrip(v: CNIVersion) throws {
        let printed = Self.full.json(version: v)
        let decoded = try CNIResult.decode(printed)
        #expect(decoded == Self.projected(Self.full, v))
        // And through text, both compact and indented.
        let reparsed = try JSON.parse(printed.serialized(indent: 4))
        #expect(try CNIResult.decode(reparsed) == decoded)
        // Re-printing the decoded result gives the same text.
        #expect(decoded.json(version: v).serialized() == Self.expectedText(v))
    }

    @Test("decode takes the version's text as written by the Go reference (extra keys tolerated)", arguments: CNIVersion.allCases)
    func decodeReferenceText(v: CNIVersion) throws {
        let j = try JSON.parse(Self.expectedText(v))
        #expect(try CNIResult.decode(j) == Self.projected(Self.full, v))
    }

    @Test("decode: nulls and absent members give an empty result")
    func decodeNulls() throws {
        let j = try JSON.parse(#"{"cniVersion":"1.0.0","interfaces":null,"ips":null,"routes":null,"dns":null,"future":{"x":1}}"#)
        #expect(try CNIResult.decode(j) == CNIResult())
        #expect(try CNIResult.decode(JSON.parse("{}")) == CNIResult())
    }

    @Test("decode: a route dst with host bits is normalised to its network")
    func decodeRouteNetwork() throws {
        let j = try JSON.parse(#"{"routes":[{"dst":"10.1.2.3/16"}]}"#)
        #expect(try CNIResult.decode(j).routes.first?.dst.description == "10.1.0.0/16")
    }

    @Test("malformed prevResults are code 6 naming the field",
          arguments: [
              (#""x""#, "prevResult must be an object"),
              (#"[]"#, "prevResult must be an object"),
              (#"{"interfaces":{}}"#, "prevResult.interfaces must be an array"),
              (#"{"interfaces":[{"mac":"0a:1b:2c:3d:4e:5f"}]}"#, "prevResult.interfaces[0].name must be a string"),
              (#"{"interfaces":[{"name":5}]}"#, "prevResult.interfaces[0].name must be a string"),
              (#"{"interfaces":["net1"]}"#, "prevResult.interfaces[0].name must be a string"),
              (#"{"ips":"10.0.0.5/24"}"#, "prevResult.ips must be an array"),
              (#"{"ips":[{}]}"#, "prevResult.ips[0].address (missing) is not a CIDR"),
              (#"{"ips":[{"address":"10.0.0.5"}]}"#, "prevResult.ips[0].address \"10.0.0.5\" is not a CIDR"),
              (#"{"ips":[{"address":"10.0.0.5/24"},{"address":5}]}"#, "prevResult.ips[1].address 5 is not a CIDR"),
              (#"{"ips":[{"address":"10.0.0.5/24","gateway":"x"}]}"#, "prevResult.ips[0].gateway \"x\" is not an IP address"),
              (#"{"ips":[{"address":"10.0.0.5/24","gateway":1}]}"#, "prevResult.ips[0].gateway 1 is not an IP address"),
              (#"{"ips":[{"address":"10.0.0.5/24","interface":-1}]}"#, "prevResult.ips[0].interface -1 is not an index"),
              (#"{"ips":[{"address":"10.0.0.5/24","interface":"0"}]}"#, "prevResult.ips[0].interface \"0\" is not an index"),
              (#"{"ips":[{"address":"10.0.0.5/24","interface":0.5}]}"#, "prevResult.ips[0].interface 0.5 is not an index"),
              (#"{"routes":{}}"#, "prevResult.routes must be an array"),
              (#"{"routes":[5]}"#, "prevResult.routes[0] must be an object"),
              (#"{"routes":[{"dst":"x"}]}"#, "prevResult.routes[0].dst \"x\" is not a CIDR"),
              (#"{"routes":[{}]}"#, "prevResult.routes[0].dst (missing) is not a CIDR"),
              (#"{"routes":[{"dst":"0.0.0.0/0","gw":"fd00::1"}]}"#, "prevResult.routes[0]: gw fd00::1 and dst 0.0.0.0/0 are of different IP families"),
              (#"{"routes":[{"dst":"0.0.0.0/0","gw":"x"}]}"#, "prevResult.routes[0].gw \"x\" is not an IP address"),
              (#"{"routes":[{"dst":"0.0.0.0/0","mtu":70000}]}"#, "prevResult.routes[0].mtu 70000 must be an integer in 0...65535"),
              (#"{"routes":[{"dst":"0.0.0.0/0","scope":256}]}"#, "prevResult.routes[0].scope 256 must be an integer in 0...255"),
              (#"{"routes":[{"dst":"0.0.0.0/0","table":-1}]}"#, "prevResult.routes[0].table -1 must be an integer in 0...4294967295"),
              (#"{"routes":[{"dst":"0.0.0.0/0","priority":"1"}]}"#, "prevResult.routes[0].priority \"1\" must be an integer"),
              (#"{"dns":[]}"#, "prevResult.dns must be an object"),
              (#"{"dns":{"nameservers":"10.0.0.2"}}"#, "prevResult.dns.nameservers must be an array of strings"),
              (#"{"dns":{"search":[1]}}"#, "prevResult.dns.search must be an array of strings"),
              (#"{"dns":{"domain":[]}}"#, "prevResult.dns.domain must be a string"),
          ])
    func malformed(text: String, msgPrefix: String) throws {
        let j = try JSON.parse(text)
        let e = cniError { _ = try CNIResult.decode(j) }
        #expect(e?.code == 6, "\(text)")
        #expect(e?.msg.hasPrefix(msgPrefix) == true, "\(e?.msg ?? "nil")")
    }

    @Test("decode uses the given field name in messages")
    func fieldName() throws {
        let e = cniError { _ = try CNIResult.decode(JSON.parse(#"{"ips":5}"#), field: "result of IPAM plugin x") }
        #expect(e?.msg == "result of IPAM plugin x.ips must be an array, not number")
    }
}
