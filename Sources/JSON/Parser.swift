/// An iterative RFC 8259 parser over a contiguous byte buffer.
struct JSONParser {
    private let buf: UnsafeBufferPointer<UInt8>
    private let n: Int
    private var i = 0
    private let maxDepth: Int
    /// Reused for strings that contain escapes.
    private var scratch: [UInt8] = []

    init(_ buf: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buf = buf
        self.n = buf.count
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        let value = try parseValue()
        skipWhitespace()
        if i < n {
            throw JSONError(offset: i, reason: "trailing data after the JSON value")
        }
        return value
    }

    // MARK: helpers

    @inline(__always)
    private mutating func skipWhitespace() {
        while i < n {
            switch buf[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    private func endOfInput() -> JSONError {
        JSONError(offset: n, reason: "unexpected end of input")
    }

    private func unexpected(_ what: String) -> JSONError {
        guard i < n else { return endOfInput() }
        let b = buf[i]
        let shown: String
        if b >= 0x21 && b < 0x7F {
            shown = "character '\(Character(Unicode.Scalar(b)))'"
        } else {
            shown = "byte 0x" + hex2(b)
        }
        var reason = "unexpected \(shown), expected \(what)"
        if b == UInt8(ascii: "/") { reason += " (comments are not allowed)" }
        return JSONError(offset: i, reason: reason)
    }

    private struct Frame {
        var isObject: Bool
        var valueStart: Int
        var keyStart: Int
    }

    // MARK: values

    /// Parses one value; containers are handled with explicit stacks, so the
    /// machine stack does not grow with nesting.
    private mutating func parseValue() throws(JSONError) -> JSON {
        var frames: [Frame] = []
        var values: [JSON] = []  // pending elements/member values of all open containers
        var keys: [String] = []  // pending member keys of all open objects

        nextValue: while true {
            skipWhitespace()
            guard i < n else { throw endOfInput() }
            var value: JSON
            switch buf[i] {
            case UInt8(ascii: "{"):
                if frames.count >= maxDepth {
                    throw JSONError(offset: i, reason: "nesting deeper than \(maxDepth)")
                }
                i += 1
                skipWhitespace()
                if i < n && buf[i] == UInt8(ascii: "}") {
                    i += 1
                    value = .object(JSONObject())
                } else {
                    frames.append(Frame(isObject: true, valueStart: values.count, keyStart: keys.count))
                    keys.append(try parseMemberKey())
                    continue nextValue
                }
            case UInt8(ascii: "["):
                if frames.count >= maxDepth {
                    throw JSONError(offset: i, reason: "nesting deeper than \(maxDepth)")
                }
                i += 1
                skipWhitespace()
                if i < n && buf[i] == UInt8(ascii: "]") {
                    i += 1
                    value = .array([])
                } else {
                    frames.append(Frame(isObject: false, valueStart: values.count, keyStart: keys.count))
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            default:
                throw unexpected("a JSON value")
            }

            // A complete value: attach it to the open containers, closing as many as possible.
            while let top = frames.last {
                skipWhitespace()
                guard i < n else { throw endOfInput() }
                let c = buf[i]
                if c == UInt8(ascii: ",") {
                    values.append(value)
                    let comma = i
                    i += 1
                    skipWhitespace()
                    if top.isObject {
                        if i < n && buf[i] == UInt8(ascii: "}") {
                            throw JSONError(offset: comma, reason: "trailing comma in object")
                        }
                        keys.append(try parseMemberKey())
                    } else if i < n && buf[i] == UInt8(ascii: "]") {
                        throw JSONError(offset: comma, reason: "trailing comma in array")
                    }
                    continue nextValue
                }
                if top.isObject {
                    guard c == UInt8(ascii: "}") else {
                        throw JSONError(offset: i, reason: "expected ',' or '}' in object")
                    }
                    i += 1
                    values.append(value)
                    frames.removeLast()
                    var object = JSONObject()
                    let count = keys.count - top.keyStart
                    object.reserveCapacity(count)
                    for j in 0..<count {
                        object.insertParsed(keys[top.keyStart + j], values[top.valueStart + j])
                    }
                    keys.removeLast(count)
                    values.removeLast(count)
                    value = .object(object)
                } else {
                    guard c == UInt8(ascii: "]") else {
                        throw JSONError(offset: i, reason: "expected ',' or ']' in array")
                    }
                    i += 1
                    values.append(value)
                    frames.removeLast()
                    let elements = Array(values[top.valueStart...])
                    values.removeLast(elements.count)
                    value = .array(elements)
                }
            }
            return value
        }
    }

    /// At the start of a member: `"key"` ws `:` ws.
    private mutating func parseMemberKey() throws(JSONError) -> String {
        guard i < n else { throw endOfInput() }
        guard buf[i] == UInt8(ascii: "\"") else {
            throw unexpected("a string key in object")
        }
        let key = try parseString()
        skipWhitespace()
        guard i < n else { throw endOfInput() }
        guard buf[i] == UInt8(ascii: ":") else {
            throw JSONError(offset: i, reason: "expected ':' after object key")
        }
        i += 1
        return key
    }

    private mutating func expectLiteral(_ word: StaticString) throws(JSONError) {
        let start = i
        let len = word.utf8CodeUnitCount
        let p = word.utf8Start
        var k = 0
        while k < len {
            guard i + k < n else {
                throw JSONError(offset: start, reason: "invalid literal (truncated)")
            }
            guard buf[i + k] == p[k] else {
                throw JSONError(offset: start, reason: "invalid literal")
            }
            k += 1
        }
        i += len
    }

    private mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = i
        let (end, int64) = try scanJSONNumber(buf, from: start)
        i = end
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)
        return JSONNumber(validatedText: text, int64: int64)
    }

    // MARK: strings

    /// At an opening quote. Plain runs are validated in place and decoded in one
    /// go; escapes switch to a scratch buffer.
    private mutating func parseString() throws(JSONError) -> String {
        let quote = i
        i += 1
        let start = i
        while i < n {
            let b = buf[i]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") {
                return try parseEscapedString(quote: quote, runStart: start)
            }
            if b < 0x20 {
                throw JSONError(offset: i, reason: "unescaped control character in string")
            }
            if b < 0x80 {
                i += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw JSONError(offset: quote, reason: "unterminated string")
    }

    private mutating func parseEscapedString(quote: Int, runStart: Int) throws(JSONError) -> String {
        scratch.removeAll(keepingCapacity: true)
        var run = runStart
        while i < n {
            let b = buf[i]
            if b == UInt8(ascii: "\"") {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<i]))
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<i]))
                try appendEscape(quote: quote)
                run = i
                continue
            }
            if b < 0x20 {
                throw JSONError(offset: i, reason: "unescaped control character in string")
            }
            if b < 0x80 {
                i += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw JSONError(offset: quote, reason: "unterminated string")
    }

    /// At a backslash: decodes one escape into `scratch`.
    private mutating func appendEscape(quote: Int) throws(JSONError) {
        let backslash = i
        guard i + 1 < n else { throw JSONError(offset: quote, reason: "unterminated string") }
        let e = buf[i + 1]
        i += 2
        switch e {
        case UInt8(ascii: "\""): scratch.append(0x22)
        case UInt8(ascii: "\\"): scratch.append(0x5C)
        case UInt8(ascii: "/"): scratch.append(0x2F)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4(escapeAt: backslash)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                // A high surrogate must be followed by an escaped low surrogate.
                guard i + 1 < n, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else {
                    throw JSONError(offset: backslash, reason: "lone surrogate in \\u escape")
                }
                let second = i
                i += 2
                let low = try readHex4(escapeAt: second)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONError(offset: backslash, reason: "lone surrogate in \\u escape")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw JSONError(offset: backslash, reason: "lone surrogate in \\u escape")
            }
            appendUTF8(scalar)
        default:
            throw JSONError(offset: backslash, reason: "invalid escape sequence in string")
        }
    }

    /// After `\u`: four hex digits.
    private mutating func readHex4(escapeAt backslash: Int) throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < n else { throw JSONError(offset: backslash, reason: "truncated \\u escape in string") }
            let c = buf[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw JSONError(offset: backslash, reason: "invalid \\u escape in string (expected 4 hex digits)")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func appendUTF8(_ s: UInt32) {
        switch s {
        case 0..<0x80:
            scratch.append(UInt8(s))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (s >> 6)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (s >> 12)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (s >> 18)))
            scratch.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// At a byte >= 0x80: validates one UTF-8 sequence (RFC 3629: no overlongs,
    /// no surrogates, nothing above U+10FFFF) and steps over it.
    @inline(__always)
    private mutating func skipUTF8Sequence() throws(JSONError) {
        let lead = buf[i]
        let len: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: len = 2
        case 0xE0: len = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: len = 3
        case 0xED: len = 3; hi = 0x9F
        case 0xF0: len = 4; lo = 0x90
        case 0xF1...0xF3: len = 4
        case 0xF4: len = 4; hi = 0x8F
        default: throw JSONError(offset: i, reason: "invalid UTF-8")
        }
        guard i + len <= n else { throw JSONError(offset: i, reason: "invalid UTF-8") }
        let b1 = buf[i + 1]
        guard b1 >= lo && b1 <= hi else { throw JSONError(offset: i, reason: "invalid UTF-8") }
        if len > 2 {
            guard buf[i + 2] & 0xC0 == 0x80 else { throw JSONError(offset: i, reason: "invalid UTF-8") }
            if len > 3 {
                guard buf[i + 3] & 0xC0 == 0x80 else { throw JSONError(offset: i, reason: "invalid UTF-8") }
            }
        }
        i += len
    }
}

func hex2(_ b: UInt8) -> String {
    let digits: StaticString = "0123456789ABCDEF"
    let p = digits.utf8Start
    return String(decoding: [p[Int(b >> 4)], p[Int(b & 0xF)]], as: UTF8.self)
}
