import Testing
@testable import JSON

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
