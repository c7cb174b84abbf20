import Testing
@testable import JSON

@Suite struct UnitJSONLargeInputTests {
    static let tenMB = 10 * 1024 * 1024

    @Test func tenMegabyteString() throws {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(Self.tenMB + 64)
        let chunk = Array("abcdefghij0123456789 é中😀 \\n\\u00e9\\ud83d\\ude00 ".utf8)
        while bytes.count < Self.tenMB { bytes.append(contentsOf: chunk) }
        bytes.append(UInt8(ascii: "\""))
        let v = try JSON.parse(bytes)
        let s = try #require(v.stringValue)
        let unit = "abcdefghij0123456789 é中😀 \né😀 "
        let repeats = (bytes.count - 2) / chunk.count
        #expect(s.utf8.count == repeats * unit.utf8.count)
        #expect(s.hasPrefix(unit + unit))
        #expect(s.hasSuffix(unit))
        // And it serialises back to something that parses to the same string.
        #expect(try JSON.parse(v.serialized()) == v)
    }

    @Test func tenMegabytePlainASCIIString() throws {
        var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: Self.tenMB)
        bytes[0] = UInt8(ascii: "\"")
        bytes[bytes.count - 1] = UInt8(ascii: "\"")
        let s = try #require(JSON.parse(bytes).stringValue)
        #expect(s.utf8.count == Self.tenMB - 2)
    }

    @Test func tenMegabyteArray() throws {
        var text = "["
        text.reserveCapacity(Self.tenMB + 64)
        var count = 0
        while text.utf8.count < Self.tenMB {
            text += #"{"i":\#(count),"s":"v\#(count)","f":-1.5e3,"b":[true,null]},"#
            count += 1
        }
        text += "0]"
        let v = try JSON.parse(text)
        let a = try #require(v.arrayValue)
        #expect(a.count == count + 1)
        #expect(a[0] == ["i": 0, "s": "v0", "f": .number(JSONNumber(text: "-1.5e3")!), "b": [true, nil]])
        #expect(a[count - 1]["i"]?.int64Value == Int64(count - 1))
        #expect(a[count] == 0)
        #expect(try JSON.parse(v.serialized()) == v)
    }

    @Test func tenMegabyteNumberArray() throws {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        bytes.reserveCapacity(Self.tenMB + 16)
        var count = 0
        while bytes.count < Self.tenMB {
            bytes.append(contentsOf: "\(count % 1000),".utf8)
            count += 1
        }
        bytes.append(contentsOf: "-1]".utf8)
        let a = try #require(JSON.parse(bytes).arrayValue)
        #expect(a.count == count + 1)
        #expect(a[1001] == 1)
        #expect(a.last == -1)
    }

    @Test func deepNestingBeyondDefaultIsIterative() throws {
        // With a raised limit the parser itself uses no recursion.
        let depth = 5000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let v = try JSON.parse(text, maxDepth: depth)
        #expect(v.arrayValue?.count == 1)
        // Still bounded by the default.
        #expect(throws: JSONError(offset: 512, reason: "nesting deeper than 512")) {
            try JSON.parse(text)
        }
        // A very deep unterminated prefix fails on the limit, not the stack.
        let prefix = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(throws: JSONError(offset: 512, reason: "nesting deeper than 512")) {
            try JSON.parse(prefix)
        }
    }
}
