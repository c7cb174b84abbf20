import Testing
@testable import JSON

struct ValidCase: Sendable, CustomTestStringConvertible {
    let input: String
    let expected: JSON
    var testDescription: String { input.count > 60 ? String(input.prefix(60)) + "…" : input }
    init(_ input: String, _ expected: JSON) {
        self.input = input
        self.expected = expected
    }
}

private func num(_ text: String) -> JSON { .number(JSONNumber(text: text)!) }

@Suite struct UnitJSONParserValidTests {
    static let cases: [ValidCase] = [
        // scalars
        ValidCase("null", .null),
        ValidCase("true", true),
        ValidCase("false", false),
        ValidCase("0", 0),
        ValidCase("-0", num("-0")),
        ValidCase("123", 123),
        ValidCase("-123", -123),
        ValidCase("1.5", num("1.5")),
        ValidCase("-0.0", num("-0.0")),
        ValidCase("1e10", num("1e10")),
        ValidCase("1E+10", num("1E+10")),
        ValidCase("2.5e-3", num("2.5e-3")),
        ValidCase("0e0", num("0e0")),
        ValidCase("9223372036854775807", .number(JSONNumber(Int64.max))),
        ValidCase("-9223372036854775808", .number(JSONNumber(Int64.min))),
        ValidCase("123456789012345678901234567890", num("123456789012345678901234567890")),
        ValidCase("1e400", num("1e400")),
        ValidCase("\"\"", ""),
        ValidCase("\"hello\"", "hello"),
        // whitespace
        ValidCase(" \t\r\n 42 \n\t\r ", 42),
        ValidCase("\n[\n1\n,\n2\n]\n", [1, 2]),
        // escapes
        ValidCase(#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
        ValidCase(#""\u0041\u00e9\u4E2D""#, "Aé中"),
        ValidCase(#""\u0000""#, "\u{0}"),
        ValidCase(#""\ud83d\ude00""#, "😀"),
        ValidCase(#""\uD834\uDD1E x""#, "𝄞 x"),
        ValidCase(#""a\u0022b""#, "a\"b"),
        ValidCase(#""\uffff""#, "\u{FFFF}"),
        ValidCase(#""pre\nmid\tpost""#, "pre\nmid\tpost"),
        // raw UTF-8
        ValidCase("\"héllo wörld\"", "héllo wörld"),
        ValidCase("\"中文 😀 𝄞\"", "中文 😀 𝄞"),
        ValidCase("\"\u{7F}\"", "\u{7F}"),
        // containers
        ValidCase("[]", []),
        ValidCase("{}", [:]),
        ValidCase("[ ]", []),
        ValidCase("{ }", [:]),
        ValidCase("[1,\"a\",true,null,{},[]]", [1, "a", true, nil, [:], []]),
        ValidCase(#"{"a":1,"b":[true,false],"c":{"d":null}}"#, ["a": 1, "b": [true, false], "c": ["d": nil]]),
        ValidCase(#"[[[[[]]]]]"#, [[[[[]]]]]),
        ValidCase(#"{"a":{"b":{"c":{"d":"e"}}}}"#, ["a": ["b": ["c": ["d": "e"]]]]),
        ValidCase(#"[{"x":[{"y":[1]}]}]"#, [["x": [["y": [1]]]]]),
        ValidCase(#"{ "k" : "v" , "n" : -1.25e2 }"#, ["k": "v", "n": num("-1.25e2")]),
        ValidCase(#"{"":""}"#, ["": ""]),
        ValidCase(#"{"\u00e9":1}"#, ["é": 1]),
        ValidCase(
            #"{"cniVersion":"1.0.0","name":"eni","plugins":[{"type":"eni-multus","ipam":{"type":"host-local","ranges":[[{"subnet":"10.0.0.0/24"}]]}}]}"#,
            [
                "cniVersion": "1.0.0", "name": "eni",
                "plugins": [["type": "eni-multus", "ipam": ["type": "host-local", "ranges": [[["subnet": "10.0.0.0/24"]]]]]],
            ]),
    ]

    @Test(arguments: cases)
    func parses(_ c: ValidCase) throws {
        let fromString = try JSON.parse(c.input)
        #expect(fromString == c.expected)
        let fromBytes = try JSON.parse(Array(c.input.utf8))
        #expect(fromBytes == c.expected)
        // A non-contiguous collection takes the copying path.
        let fromView = try JSON.parse(c.input.utf8.lazy.map { $0 })
        #expect(fromView == c.expected)
    }

    @Test func numberTextIsKept() throws {
        let v = try JSON.parse("[1.50, 1E3, -0, 10]")
        #expect(v.serialized() == "[1.50,1E3,-0,10]")
        #expect(v[0]?.numberValue?.text == "1.50")
    }

    @Test func parsesFromArraySliceWithRelativeOffsets() throws {
        let bytes = Array("xx[1,2]".utf8)
        #expect(try JSON.parse(bytes[2...]) == [1, 2])
        let bad = Array("xx[1,]".utf8)
        #expect(throws: JSONError(offset: 2, reason: "trailing comma in array")) {
            try JSON.parse(bad[2...])
        }
    }

    @Test func accessors() throws {
        let v = try JSON.parse(#"{"s":"x","b":true,"i":7,"d":2.5,"a":[1],"o":{},"n":null}"#)
        #expect(v["s"]?.stringValue == "x")
        #expect(v["b"]?.boolValue == true)
        #expect(v["i"]?.int64Value == 7)
        #expect(v["d"]?.int64Value == nil)
        #expect(v["d"]?.doubleValue == 2.5)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["a"]?[0] == 1)
        #expect(v["a"]?[1] == nil)
        #expect(v["a"]?[-1] == nil)
        #expect(v["o"]?.objectValue == JSONObject())
        #expect(v["n"]?.isNull == true)
        #expect(v["missing"] == nil)
        #expect(v["s"]?["x"] == nil)
        #expect(v[0] == nil)
        #expect(v["s"]?.int64Value == nil)
        #expect(v["i"]?.stringValue == nil)
        #expect(v.objectValue?.keys == ["s", "b", "i", "d", "a", "o", "n"])
        let names = ["s", "b", "i", "d", "a", "o", "n"].map { v[$0]!.typeName }
        #expect(names == ["string", "boolean", "number", "number", "array", "object", "null"])
    }
}
