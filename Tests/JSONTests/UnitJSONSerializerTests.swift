import Testing
@testable import JSON

struct SerializeCase: Sendable, CustomTestStringConvertible {
    let value: JSON
    let compact: String
    var testDescription: String { compact }
    init(_ value: JSON, _ compact: String) {
        self.value = value
        self.compact = compact
    }
}

struct PrettyCase: Sendable, CustomTestStringConvertible {
    let input: String
    let indent: Int
    let expected: String
    var testDescription: String { "\(input) indent \(indent)" }
    init(_ input: String, indent: Int = 4, _ expected: String) {
        self.input = input
        self.indent = indent
        self.expected = expected
    }
}

@Suite struct UnitJSONSerializerTests {
    static let compactCases: [SerializeCase] = [
        SerializeCase(nil, "null"),
        SerializeCase(true, "true"),
        SerializeCase(false, "false"),
        SerializeCase(0, "0"),
        SerializeCase(-42, "-42"),
        SerializeCase(.number(JSONNumber(UInt32.max)), "4294967295"),
        SerializeCase(.number(JSONNumber(Int64.min)), "-9223372036854775808"),
        SerializeCase(1.5, "1.5"),
        SerializeCase("", #""""#),
        SerializeCase("a/b", #""a/b""#),
        SerializeCase("quote\" backslash\\", #""quote\" backslash\\""#),
        SerializeCase("\u{08}\u{0C}\n\r\t", #""\b\f\n\r\t""#),
        SerializeCase("\u{0}\u{1}\u{1F}\u{7F}", "\"\\u0000\\u0001\\u001F\u{7F}\""),
        SerializeCase("é中😀", "\"é中😀\""),
        SerializeCase("<&>\u{2028}", "\"<&>\u{2028}\""),
        SerializeCase([], "[]"),
        SerializeCase([:], "{}"),
        SerializeCase([1, [2, [3]], [:]], "[1,[2,[3]],{}]"),
        SerializeCase(["z": 1, "a": 2, "m": [nil, true]], #"{"z":1,"a":2,"m":[null,true]}"#),
        SerializeCase(["k\n": "v\"", "": [:]], #"{"k\n":"v\"","":{}}"#),
    ]

    @Test(arguments: compactCases)
    func compact(_ c: SerializeCase) throws {
        #expect(c.value.serialized() == c.compact)
        #expect(c.value.description == c.compact)
        #expect(try JSON.parse(c.compact) == c.value)
    }

    static let roundTrips: [String] = [
        #"{"cniVersion":"1.0.0","name":"net","type":"eni-multus","master":"eth1","mtu":9001,"ipam":{"type":"host-local","subnet":"10.1.0.0/16","routes":[{"dst":"0.0.0.0/0"}]}}"#,
        #"[1.50,-0,0.0,1E+2,1e-7,123456789012345678901234567890,-9223372036854775808]"#,
        #"["\u0000\u001f\"\\\/","😀\ud83d\ude00","tab\there"]"#,
        #"{"a":{"b":{"c":[[[[{}]]]]}},"d":[],"e":""}"#,
        #"{"b":1,"a":2,"c":{"z":null,"y":false}}"#,
        "  [ 1 , { \"x\" : [ ] } ]  ",
    ]

    @Test(arguments: roundTrips)
    func roundTrip(_ text: String) throws {
        let v = try JSON.parse(text)
        let compact = v.serialized()
        #expect(try JSON.parse(compact) == v)
        let pretty = v.serialized(indent: 4)
        #expect(try JSON.parse(pretty) == v)
        // Serialising is a fixed point after one parse.
        #expect(try JSON.parse(compact).serialized() == compact)
        #expect(try JSON.parse(pretty).serialized(indent: 4) == pretty)
    }

    @Test func exactCompactTextAfterParse() throws {
        let input = #" { "b" : [ 1.0 , 2e3 , -0 ] , "a" : "\u00e9\/\u0007" , "c" : { } } "#
        #expect(try JSON.parse(input).serialized() == "{\"b\":[1.0,2e3,-0],\"a\":\"é/\\u0007\",\"c\":{}}")
    }

    static let prettyCases: [PrettyCase] = [
        PrettyCase("null", "null"),
        PrettyCase("\"x\"", "\"x\""),
        PrettyCase("[]", "[]"),
        PrettyCase("{}", "{}"),
        PrettyCase("[1]", "[\n    1\n]"),
        PrettyCase(#"{"a":1}"#, "{\n    \"a\": 1\n}"),
        PrettyCase(
            #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth1","mac":"0a:1b:2c:3d:4e:5f","sandbox":"/var/run/netns/x"}],"ips":[{"address":"10.0.0.5/24","gateway":"10.0.0.1","interface":0}],"routes":[],"dns":{}}"#,
            """
            {
                "cniVersion": "1.0.0",
                "interfaces": [
                    {
                        "name": "eth1",
                        "mac": "0a:1b:2c:3d:4e:5f",
                        "sandbox": "/var/run/netns/x"
                    }
                ],
                "ips": [
                    {
                        "address": "10.0.0.5/24",
                        "gateway": "10.0.0.1",
                        "interface": 0
                    }
                ],
                "routes": [],
                "dns": {}
            }
            """),
        PrettyCase(#"[[],[[]],{"a":[]}]"#, indent: 2, "[\n  [],\n  [\n    []\n  ],\n  {\n    \"a\": []\n  }\n]"),
        PrettyCase(#"{"a":[1,2]}"#, indent: 0, "{\n\"a\": [\n1,\n2\n]\n}"),
        PrettyCase(#"{"s":"a\nb"}"#, "{\n    \"s\": \"a\\nb\"\n}"),
    ]

    @Test(arguments: prettyCases)
    func pretty(_ c: PrettyCase) throws {
        let v = try JSON.parse(c.input)
        #expect(v.serialized(indent: c.indent) == c.expected)
    }
}
