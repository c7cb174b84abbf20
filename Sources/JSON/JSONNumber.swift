/// A JSON number that keeps its literal text, so it re-serialises byte for byte.
///
/// Equality: two numbers that are both exact `Int64` integers compare by value
/// (so `0`, `-0` and a `JSONNumber(0)` are equal); otherwise they compare by
/// their literal text (so `1.0 != 1` and `1e2 != 100`).
public struct JSONNumber: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The literal text, valid under the RFC 8259 number grammar.
    public let text: String
    /// The exact integer value, or nil if the literal has a fraction or an
    /// exponent, or is outside the `Int64` range.
    public let int64: Int64?

    /// Internal: `text` has already been validated and `int64` computed.
    init(validatedText text: String, int64: Int64?) {
        self.text = text
        self.int64 = int64
    }

    public init(_ v: Int) {
        self.init(validatedText: String(v), int64: Int64(v))
    }

    public init(_ v: Int64) {
        self.init(validatedText: String(v), int64: v)
    }

    public init(_ v: UInt32) {
        self.init(validatedText: String(v), int64: Int64(v))
    }

    public init(_ v: UInt64) {
        self.init(validatedText: String(v), int64: Int64(exactly: v))
    }

    /// A number from a finite `Double` (shortest round-tripping text); nil for NaN or infinity.
    public init?(_ v: Double) {
        guard v.isFinite else { return nil }
        // (Avoids Int64(exactly:), which needs libm's rounding functions.)
        if v >= -0x1p63 && v < 0x1p63, Double(Int64(v)) == v {
            let i = Int64(v)
            // Integral: print without ".0". Keep the sign of negative zero.
            let text = (i == 0 && v.sign == .minus) ? "-0" : String(i)
            self.init(validatedText: text, int64: i)
            return
        }
        // Swift prints e.g. "0.1", "1e-05", "1.5e+300": all valid JSON numbers.
        self.init(text: v.description)
    }

    /// Validates `text` against the RFC 8259 number grammar
    /// (`-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`); nil if it does not match.
    public init?(text: String) {
        var t = text
        let result: (end: Int, int64: Int64?)? = t.withUTF8 { u in
            do throws(JSONError) {
                return try scanJSONNumber(u, from: 0)
            } catch {
                return nil
            }
        }
        guard let result, result.end == text.utf8.count else { return nil }
        self.init(validatedText: text, int64: result.int64)
    }

    /// The nearest `Double` (±infinity if out of range).
    public var double: Double {
        Double(text) ?? .nan
    }

    public var description: String { text }

    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if let a = lhs.int64, let b = rhs.int64 { return a == b }
        return lhs.text == rhs.text
    }

    public func hash(into hasher: inout Hasher) {
        if let i = int64 {
            hasher.combine(0 as UInt8)
            hasher.combine(i)
        } else {
            hasher.combine(1 as UInt8)
            hasher.combine(text)
        }
    }
}

/// Scans one RFC 8259 number starting at `start`. Returns the end index and the
/// exact `Int64` value when the literal is an in-range integer.
/// Errors carry absolute offsets into `buf`.
@inline(__always)
func scanJSONNumber(_ buf: UnsafeBufferPointer<UInt8>, from start: Int) throws(JSONError) -> (end: Int, int64: Int64?) {
    let n = buf.count
    var i = start
    var negative = false
    if i < n && buf[i] == UInt8(ascii: "-") {
        negative = true
        i += 1
    }
    guard i < n else {
        throw JSONError(offset: i, reason: negative ? "expected digit after '-'" : "unexpected end of input")
    }
    var magnitude: UInt64 = 0
    var overflow = false
    let first = buf[i]
    if first == UInt8(ascii: "0") {
        i += 1
        if i < n && buf[i] &- UInt8(ascii: "0") < 10 {
            throw JSONError(offset: i - 1, reason: "leading zero in number")
        }
    } else if first &- UInt8(ascii: "1") < 9 {
        while i < n {
            let d = buf[i] &- UInt8(ascii: "0")
            if d >= 10 { break }
            if !overflow {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(d))
                if o1 || o2 { overflow = true } else { magnitude = m2 }
            }
            i += 1
        }
    } else {
        throw JSONError(offset: i, reason: negative ? "expected digit after '-'" : "invalid number")
    }
    var integral = true
    if i < n && buf[i] == UInt8(ascii: ".") {
        integral = false
        i += 1
        guard i < n, buf[i] &- UInt8(ascii: "0") < 10 else {
            throw JSONError(offset: i, reason: "expected digit after '.' in number")
        }
        while i < n && buf[i] &- UInt8(ascii: "0") < 10 { i += 1 }
    }
    if i < n && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
        integral = false
        i += 1
        if i < n && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
        guard i < n, buf[i] &- UInt8(ascii: "0") < 10 else {
            throw JSONError(offset: i, reason: "expected digit in exponent")
        }
        while i < n && buf[i] &- UInt8(ascii: "0") < 10 { i += 1 }
    }
    var value: Int64? = nil
    if integral && !overflow {
        if negative {
            if magnitude <= UInt64(Int64.max) {
                value = -Int64(magnitude)
            } else if magnitude == UInt64(Int64.max) + 1 {
                value = Int64.min
            }
        } else if magnitude <= UInt64(Int64.max) {
            value = Int64(magnitude)
        }
    }
    return (i, value)
}
