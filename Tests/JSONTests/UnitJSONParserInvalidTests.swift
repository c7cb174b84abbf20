import Testing
@testable import JSON

struct InvalidCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let reason: String
    let offset: Int
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ reason: String, at offset: Int) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.reason = reason
        self.offset = offset
    }

    init(_ name: String, bytes: [UInt8], _ reason: String, at offset: Int) {
        self.name = name
        self.bytes = bytes
        self.reason = reason
        self.offset = offset
    }
}

@Suite struct UnitJSONParserInvalidTests {
    static let eoi = "unexpected end of input"
    static let utf8 = "invalid UTF-8"
    static let lone = "lone surrogate"
    static let ctrl = "unescaped control character"

    static let cases: [InvalidCase] = [
        // empty and truncated
        InvalidCase("empty", "", eoi, at: 0),
        InvalidCase("whitespace only", "  \n", eoi, at: 3),
        InvalidCase("open array", "[", eoi, at: 1),
        InvalidCase("open object", "{", eoi, at: 1),
        InvalidCase("array after comma", "[1,", eoi, at: 3),
        InvalidCase("array after value", "[1", eoi, at: 2),
        InvalidCase("object after colon", #"{"a":"#, eoi, at: 5),
        InvalidCase("object after key", #"{"a""#, eoi, at: 4),
        InvalidCase("unterminated string", #""abc"#, "unterminated string", at: 0),
        InvalidCase("unterminated key", #"{"ab"#, "unterminated string", at: 1),
        InvalidCase("string ends in backslash", #""ab\"#, "unterminated string", at: 0),
        InvalidCase("truncated true", "tru", "invalid literal", at: 0),
        InvalidCase("truncated null in array", "[nul", "invalid literal", at: 1),
        InvalidCase("lone minus", "-", "expected digit after '-'", at: 1),
        // literals and stray characters
        InvalidCase("misspelt literal", "trye", "invalid literal", at: 0),
        InvalidCase("capitalised literal", "True", "unexpected character 'T'", at: 0),
        InvalidCase("NaN", "NaN", "unexpected character 'N'", at: 0),
        InvalidCase("Infinity", "Infinity", "unexpected character 'I'", at: 0),
        InvalidCase("-Infinity", "-Infinity", "expected digit after '-'", at: 1),
        InvalidCase("single quotes", "'a'", "unexpected character '''", at: 0),
        InvalidCase("bare word", "abc", "unexpected character 'a'", at: 0),
        InvalidCase("unquoted key", "{a:1}", "expected a string key", at: 1),
        InvalidCase("number key", "{1:1}", "expected a string key", at: 1),
        InvalidCase("missing colon", #"{"a" 1}"#, "expected ':' after object key", at: 5),
        InvalidCase("missing value", #"{"a":}"#, "unexpected character '}'", at: 5),
        InvalidCase("missing comma in array", "[1 2]", "expected ',' or ']' in array", at: 3),
        InvalidCase("missing comma in object", #"{"a":1 "b":2}"#, "expected ',' or '}' in object", at: 7),
        InvalidCase("mismatched close", "[1}", "expected ',' or ']' in array", at: 2),
        InvalidCase("mismatched close object", #"{"a":1]"#, "expected ',' or '}' in object", at: 6),
        InvalidCase("leading comma", "[,1]", "unexpected character ','", at: 1),
        InvalidCase("double comma", "[1,,2]", "unexpected character ','", at: 3),
        InvalidCase("byte order mark", bytes: [0xEF, 0xBB, 0xBF] + Array("{}".utf8), "unexpected byte 0xEF", at: 0),
        InvalidCase("vertical tab whitespace", "\u{0B}1", "unexpected byte 0x0B", at: 0),
        InvalidCase("non-breaking space", "\u{A0}1", "unexpected byte 0xC2", at: 0),
        // trailing commas
        InvalidCase("trailing comma array", "[1,2,]", "trailing comma in array", at: 4),
        InvalidCase("trailing comma object", #"{"a":1,}"#, "trailing comma in object", at: 6),
        InvalidCase("trailing comma spaced", "[1 , ]", "trailing comma in array", at: 3),
        // comments
        InvalidCase("line comment", "// c\n1", "comments are not allowed", at: 0),
        InvalidCase("block comment", "[1 /* c */]", "expected ',' or ']' in array", at: 3),
        InvalidCase("comment as value", "[/* c */ 1]", "comments are not allowed", at: 1),
        InvalidCase("hash comment", "# c\n1", "unexpected character '#'", at: 0),
        // numbers
        InvalidCase("leading zero", "01", "leading zero in number", at: 0),
        InvalidCase("leading zeros", "-007", "leading zero in number", at: 1),
        InvalidCase("leading zero in array", "[00]", "leading zero in number", at: 1),
        InvalidCase("dot without fraction", "1.", "expected digit after '.'", at: 2),
        InvalidCase("dot then exponent", "1.e5", "expected digit after '.'", at: 2),
        InvalidCase("leading dot", ".5", "unexpected character '.'", at: 0),
        InvalidCase("plus sign", "+1", "unexpected character '+'", at: 0),
        InvalidCase("exponent without digits", "1e", "expected digit in exponent", at: 2),
        InvalidCase("exponent sign without digits", "1e+", "expected digit in exponent", at: 3),
        InvalidCase("minus then dot", "-.5", "expected digit after '-'", at: 1),
        InvalidCase("hex number", "0x10", "trailing data after the JSON value", at: 1),
        InvalidCase("double minus", "--1", "expected digit after '-'", at: 1),
        // two values / trailing data
        InvalidCase("two numbers", "1 2", "trailing data after the JSON value", at: 2),
        InvalidCase("two objects", "{}{}", "trailing data after the JSON value", at: 2),
        InvalidCase("extra close", "[1]]", "trailing data after the JSON value", at: 3),
        InvalidCase("literal with suffix", "truex", "trailing data after the JSON value", at: 4),
        InvalidCase("NUL after value", "1\u{0}", "trailing data after the JSON value", at: 1),
        // escapes
        InvalidCase("bad escape letter", #""\x""#, "invalid escape sequence", at: 1),
        InvalidCase("escaped single quote", #""\'""#, "invalid escape sequence", at: 1),
        InvalidCase("uppercase U escape", #""\U0041""#, "invalid escape sequence", at: 1),
        InvalidCase("short unicode escape", #""\u12""#, "expected 4 hex digits", at: 1),
        InvalidCase("non-hex unicode escape", #""\u12G4""#, "expected 4 hex digits", at: 1),
        InvalidCase("truncated unicode escape", #""\u12"#, "truncated \\u escape", at: 1),
        InvalidCase("escape after text", #""abc\q""#, "invalid escape sequence", at: 4),
        // surrogates
        InvalidCase("lone high surrogate", #""\ud800""#, lone, at: 1),
        InvalidCase("lone low surrogate", #""\udc00""#, lone, at: 1),
        InvalidCase("high then text", #""\ud83dx""#, lone, at: 1),
        InvalidCase("high then non-surrogate", #""\ud83d\u0041""#, lone, at: 1),
        InvalidCase("two highs", #""\ud83d\ud83d""#, lone, at: 1),
        InvalidCase("reversed pair", #""\ude00\ud83d""#, lone, at: 1),
        InvalidCase("high then other escape", #""\ud83d\n""#, lone, at: 1),
        // control characters
        InvalidCase("raw newline", "\"a\nb\"", ctrl, at: 2),
        InvalidCase("raw tab", "\"\t\"", ctrl, at: 1),
        InvalidCase("raw NUL", "\"\u{0}\"", ctrl, at: 1),
        InvalidCase("raw 0x1F after escape", "\"\\n\u{1F}\"", ctrl, at: 3),
        InvalidCase("raw newline in key", "{\"a\nb\":1}", ctrl, at: 3),
        // invalid UTF-8
        InvalidCase("lone continuation", bytes: [0x22, 0x80, 0x22], utf8, at: 1),
        InvalidCase("overlong slash", bytes: [0x22, 0xC0, 0xAF, 0x22], utf8, at: 1),
        InvalidCase("overlong C1", bytes: [0x22, 0xC1, 0xBF, 0x22], utf8, at: 1),
        InvalidCase("overlong 3-byte", bytes: [0x22, 0xE0, 0x80, 0xAF, 0x22], utf8, at: 1),
        InvalidCase("overlong 4-byte", bytes: [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22], utf8, at: 1),
        InvalidCase("encoded surrogate", bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], utf8, at: 1),
        InvalidCase("above U+10FFFF", bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], utf8, at: 1),
        InvalidCase("F5 lead", bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], utf8, at: 1),
        InvalidCase("FF byte", bytes: [0x22, 0x61, 0xFF, 0x22], utf8, at: 2),
        InvalidCase("truncated sequence", bytes: [0x22, 0xE4, 0xB8, 0x22], utf8, at: 1),
        InvalidCase("truncated at end", bytes: [0x22, 0xE4, 0xB8], utf8, at: 1),
        InvalidCase("bad byte after escape", bytes: Array(#""\n"#.utf8) + [0xC3, 0x28, 0x22], utf8, at: 3),
        InvalidCase("invalid UTF-8 in key", bytes: [0x7B, 0x22, 0xFE, 0x22, 0x3A, 0x31, 0x7D], utf8, at: 2),
        InvalidCase("invalid byte outside string", bytes: [0x5B, 0xFF, 0x5D], "unexpected byte 0xFF", at: 1),
        // depth
        InvalidCase("depth 513 arrays", String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
                    "nesting deeper than 512", at: 512),
        InvalidCase("depth 513 objects", String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513),
                    "nesting deeper than 512", at: 512 * 5),
        InvalidCase("depth 513 mixed", String(repeating: #"[{"a":"#, count: 257) + "1",
                    "nesting deeper than 512", at: 256 * 6),
    ]

    @Test(arguments: cases)
    func rejects(_ c: InvalidCase) {
        do {
            let v = try JSON.parse(c.bytes)
            Issue.record("expected an error, parsed \(v)")
        } catch {
            #expect(error.reason.contains(c.reason), "reason: \(error.reason)")
            #expect(error.offset == c.offset, "reason: \(error.reason)")
            #expect(error.offset >= 0 && error.offset <= c.bytes.count)
            #expect(error.description == "invalid JSON at byte \(error.offset): \(error.reason)")
        }
    }

    @Test func depthLimitIsConfigurable() throws {
        let deep3 = "[[[1]]]"
        #expect(try JSON.parse(deep3, maxDepth: 3) == [[[1]]])
        #expect(throws: JSONError(offset: 2, reason: "nesting deeper than 2")) {
            try JSON.parse(deep3, maxDepth: 2)
        }
        // Scalars need no depth.
        #expect(try JSON.parse("1", maxDepth: 0) == 1)
        #expect(throws: JSONError.self) { try JSON.parse("[]", maxDepth: 0) }
    }

    @Test func depth512IsAccepted() throws {
        let text = String(repeating: "[", count: 512) + "7" + String(repeating: "]", count: 512)
        var v = try JSON.parse(text)
        for _ in 0..<512 { v = v[0]! }
        #expect(v == 7)
        let objects = String(repeating: #"{"k":"#, count: 512) + "null" + String(repeating: "}", count: 512)
        #expect(try JSON.parse(objects)["k"]?["k"] != nil)
    }

    @Test func errorDescription() {
        let e = JSONError(offset: 12, reason: "unterminated string")
        #expect(e.description == "invalid JSON at byte 12: unterminated string")
        #expect("\(e)" == "invalid JSON at byte 12: unterminated string")
    }
}
