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
