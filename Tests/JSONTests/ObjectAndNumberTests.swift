import Testing
@testable import JSON

@Suite struct UnitJSONObjectTests {
    @Test func duplicateKeysLastValueWinsAtFirstPosition() throws {
        let v = try JSON.parse(#"{"a":1,"b":2,"a":3,"c":4,"b":{"x":1}}"#)
        let o = try #require(v.objectValue)
        #expect(o.keys == ["a", "b", "c"])
        #expect(o["a"] == 3)
        #expect(o["b"] == ["x": 1])
        #expect(o.count == 3)
        #expect(v.serialized() == #"{"a":3,"b":{"x":1},"c":4}"#)
    }

    @Test func duplicateKeysInLargeObject() throws {
        // Past the size where a hash index is used.
        var text = "{"
        for k in 0..<100 { text += "\"k\(k)\":\(k)," }
        text += #""k5":"five","k99":"last"}"#
        let o = try #require(JSON.parse(text).objectValue)
        #expect(o.count == 100)
        #expect(o["k5"] == "five")
        #expect(o["k99"] == "last")
        #expect(o.keys[5] == "k5")
        #expect(o.keys.last == "k99")
        #expect(o["k50"] == 50)
    }

    @Test func duplicateKeysViaEscapes() throws {
        let o = try #require(JSON.parse(#"{"ab":1,"\u0061b":2}"#).objectValue)
        #expect(o.keys == ["ab"])
        #expect(o["ab"] == 2)
    }

    @Test func initFromPairsAndLiterals() {
        let o = JSONObject([("x", 1), ("y", 2), ("x", 3)])
        #expect(o.keys == ["x", "y"])
        #expect(o["x"] == 3)
        let lit: JSON = ["z": 1, "a": 2, "m": 3]
        #expect(lit.objectValue?.keys == ["z", "a", "m"])
        let olit: JSONObject = ["q": true]
        #expect(olit["q"] == true)
        #expect(JSONObject().isEmpty)
    }

    @Test func subscriptSetAppendsReplacesRemoves() {
        var o = JSONObject()
        o["b"] = 1
        o["a"] = 2
        o["b"] = "x"
        #expect(o.keys == ["b", "a"])
        #expect(o["b"] == "x")
        o["b"] = nil
        #expect(o.keys == ["a"])
        #expect(!o.contains("b"))
        #expect(o.contains("a"))
        o["missing"] = nil
        #expect(o.count == 1)
        #expect(o.removeValue(forKey: "a") == 2)
        #expect(o.isEmpty)
    }

    @Test func largeObjectEditsKeepIndexConsistent() {
        var o = JSONObject()
        for k in 0..<40 { o["k\(k)"] = .number(JSONNumber(k)) }
        for k in stride(from: 0, to: 40, by: 2) { o["k\(k)"] = nil }
        #expect(o.count == 20)
        #expect(o.keys.first == "k1")
        for k in 0..<40 {
            #expect(o["k\(k)"] == (k % 2 == 1 ? .number(JSONNumber(k)) : nil))
        }
        o["k0"] = true
        #expect(o.keys.last == "k0")
        for _ in 0..<15 { o.removeValue(forKey: o.keys[0]) }
        #expect(o.count == 6)
        #expect(o["k39"] != nil)
        #expect(o["k0"] == true)
    }

    @Test func sequenceIteratesInOrder() {
        let o: JSONObject = ["c": 1, "a": 2, "b": 3]
        #expect(o.map(\.key) == ["c", "a", "b"])
        #expect(o.map(\.value) == [1, 2, 3])
        #expect(o.values == [1, 2, 3])
    }

    @Test func equalityIgnoresOrder() throws {
        #expect(try JSON.parse(#"{"a":1,"b":2}"#) == JSON.parse(#"{"b":2,"a":1}"#))
        #expect(try JSON.parse(#"{"a":1,"b":2}"#) != JSON.parse(#"{"a":1,"b":3}"#))
        #expect(try JSON.parse(#"{"a":1,"b":2}"#) != JSON.parse(#"{"a":1,"c":2}"#))
        #expect(try JSON.parse(#"{"a":1}"#) != JSON.parse(#"{"a":1,"b":2}"#))
        #expect(try JSON.parse("[1,2]") != JSON.parse("[2,1]"))
    }
}

@Suite struct UnitJSONNumberTests {
    struct IntCase: Sendable, CustomTestStringConvertible {
        let text: String
        let int64: Int64?
        let double: Double
        var testDescription: String { text }
    }

    static let intCases: [IntCase] = [
        IntCase(text: "0", int64: 0, double: 0),
        IntCase(text: "-0", int64: 0, double: -0.0),
        IntCase(text: "42", int64: 42, double: 42),
        IntCase(text: "-17", int64: -17, double: -17),
        IntCase(text: "9223372036854775807", int64: .max, double: 0x1p63),
        IntCase(text: "9223372036854775808", int64: nil, double: 9223372036854775808),
        IntCase(text: "-9223372036854775808", int64: .min, double: -9223372036854775808),
        IntCase(text: "-9223372036854775809", int64: nil, double: -0x1p63),
        IntCase(text: "18446744073709551616", int64: nil, double: 18446744073709551616),
        IntCase(text: "1.0", int64: nil, double: 1),
        IntCase(text: "1e2", int64: nil, double: 100),
        IntCase(text: "-2.5E-1", int64: nil, double: -0.25),
        IntCase(text: "1e400", int64: nil, double: .infinity),
        IntCase(text: "-1e400", int64: nil, double: -.infinity),
        IntCase(text: "1e-400", int64: nil, double: 0),
    ]

    @Test(arguments: intCases)
    func values(_ c: IntCase) throws {
        let n = try #require(JSONNumber(text: c.text))
        #expect(n.text == c.text)
        #expect(n.int64 == c.int64)
        #expect(n.double == c.double)
        #expect(n.double.sign == c.double.sign)
        #expect(try JSON.parse(c.text).int64Value == c.int64)
    }

    @Test(arguments: ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x1", "NaN", "inf", " 1", "1 ", "1.2.3", "--1", "1_000", "١"])
    func invalidText(_ text: String) {
        #expect(JSONNumber(text: text) == nil)
    }

    @Test func initialisers() {
        #expect(JSONNumber(7).text == "7")
        #expect(JSONNumber(Int64(-9)).int64 == -9)
        #expect(JSONNumber(UInt32.max).int64 == 4294967295)
        #expect(JSONNumber(UInt64.max).int64 == nil)
        #expect(JSONNumber(UInt64.max).text == "18446744073709551615")
        #expect(JSONNumber(2.0)?.text == "2")
        #expect(JSONNumber(-0.0)?.text == "-0")
        #expect(JSONNumber(0.25)?.text == "0.25")
        #expect(JSONNumber(1e-7).flatMap { JSONNumber(text: $0.text) } != nil)
        #expect(JSONNumber(1e300).flatMap { JSONNumber(text: $0.text) } != nil)
        #expect(JSONNumber(Double.nan) == nil)
        #expect(JSONNumber(Double.infinity) == nil)
    }

    @Test func equalityByIntegerValueElseText() {
        #expect(JSONNumber(text: "-0") == JSONNumber(0))
        #expect(JSONNumber(text: "5") == JSONNumber(Int64(5)))
        #expect(JSONNumber(text: "1.0") != JSONNumber(1))
        #expect(JSONNumber(text: "1e2") != JSONNumber(100))
        #expect(JSONNumber(text: "1.50") == JSONNumber(text: "1.50"))
        #expect(JSONNumber(text: "1.50") != JSONNumber(text: "1.5"))
        #expect(JSONNumber(text: "99999999999999999999") == JSONNumber(text: "99999999999999999999"))
        #expect(JSON.number(JSONNumber(3)) == 3)
    }

    @Test func literalsBuildExpectedValues() {
        let v: JSON = ["i": 1, "s": "x", "b": false, "n": nil, "a": [1, 2], "d": 0.5]
        #expect(v.serialized() == #"{"i":1,"s":"x","b":false,"n":null,"a":[1,2],"d":0.5}"#)
    }
}
