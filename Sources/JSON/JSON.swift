/// A JSON value.
///
/// Equality is structural. Numbers compare by integer value when both are exact
/// `Int64` integers, else by literal text (see `JSONNumber`); objects compare
/// without regard to member order (see `JSONObject`).
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    // MARK: parsing

    /// Parses exactly one RFC 8259 JSON value, optionally surrounded by
    /// whitespace (space, tab, LF, CR).
    ///
    /// Strict: rejects invalid UTF-8 (anywhere), a byte-order mark, unescaped
    /// control characters in strings, lone surrogates in `\u` escapes, leading
    /// zeros, `NaN`/`Infinity`, trailing commas, comments, and nesting of arrays
    /// and objects deeper than `maxDepth`. The parser is iterative, so stack use
    /// does not depend on the input.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 512) throws(JSONError) -> JSON {
        let fast: Result<JSON, JSONError>? = bytes.withContiguousStorageIfAvailable { buf in
            Result { () throws(JSONError) -> JSON in
                var p = JSONParser(buf, maxDepth: maxDepth)
                return try p.parseDocument()
            }
        }
        if let fast { return try fast.get() }
        let copy = Array(bytes)
        return try parse(copy, maxDepth: maxDepth)
    }

    /// Parses the UTF-8 encoding of `text` (see `parse(_:maxDepth:)`).
    public static func parse(_ text: String, maxDepth: Int = 512) throws(JSONError) -> JSON {
        var text = text
        let result: Result<JSON, JSONError> = text.withUTF8 { buf in
            Result { () throws(JSONError) -> JSON in
                var p = JSONParser(buf, maxDepth: maxDepth)
                return try p.parseDocument()
            }
        }
        return try result.get()
    }

    // MARK: access

    /// The object member named `key`; nil if this is not an object or it has no such member.
    public subscript(key: String) -> JSON? {
        guard case .object(let o) = self else { return nil }
        return o[key]
    }

    /// The array element at `index`; nil if this is not an array or the index is out of range.
    public subscript(index: Int) -> JSON? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var numberValue: JSONNumber? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The exact integer value of a number without fraction or exponent that fits in `Int64`.
    public var int64Value: Int64? {
        if case .number(let n) = self { return n.int64 }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let n) = self { return n.double }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// "null", "boolean", "number", "string", "array" or "object".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSON: CustomStringConvertible {
    /// The compact serialisation.
    public var description: String { serialized() }
}

// MARK: literals

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    /// Keeps literal order; a repeated key's last value wins.
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
    /// A non-finite literal becomes `null`.
    public init(floatLiteral value: Double) {
        if let n = JSONNumber(value) { self = .number(n) } else { self = .null }
    }
}
