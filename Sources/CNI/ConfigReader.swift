import JSON

/// Typed access to one JSON object of a network config, with errors that name the field path and the value.
/// A wrong JSON type is a decode failure (code 6); semantic checks by callers use `invalid` (code 7).
public struct ConfigReader: Sendable {
    public let object: JSONObject
    public let path: String

    public init(_ object: JSONObject, path: String) {
        self.object = object
        self.path = path
    }

    public init(_ json: JSON, path: String) throws(CNIError) {
        guard let o = json.objectValue else {
            throw CNIError(.decodeFailure, "\(path) must be an object, not \(json.typeName)")
        }
        self.init(o, path: path)
    }

    public func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func present(_ key: String) -> JSON? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    private func wrongType(_ key: String, _ v: JSON, _ want: String) -> CNIError {
        CNIError(.decodeFailure, "\(field(key)) must be \(want), not \(v.typeName) \(Self.excerpt(v))")
    }

    public static func excerpt(_ v: JSON) -> String {
        let s = v.serialized()
        return s.utf8.count > 80 ? String(s.prefix(77)) + "..." : s
    }

    public func string(_ key: String) throws(CNIError) -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else { throw wrongType(key, v, "a string") }
        return s
    }

    public func bool(_ key: String) throws(CNIError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.boolValue else { throw wrongType(key, v, "a boolean") }
        return b
    }

    public func int(_ key: String, in range: ClosedRange<Int64>) throws(CNIError) -> Int64? {
        guard let v = present(key) else { return nil }
        guard case .number(let n) = v else { throw wrongType(key, v, "an integer") }
        guard let i = n.int64, range.contains(i) else {
            throw CNIError(.invalidConfig,
                           "\(field(key)) \(n.text) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    public func object(_ key: String) throws(CNIError) -> ConfigReader? {
        guard let v = present(key) else { return nil }
        guard let o = v.objectValue else { throw wrongType(key, v, "an object") }
        return ConfigReader(o, path: field(key))
    }

    public func array(_ key: String) throws(CNIError) -> [JSON]? {
        guard let v = present(key) else { return nil }
        guard let a = v.arrayValue else { throw wrongType(key, v, "an array") }
        return a
    }

    public func strings(_ key: String) throws(CNIError) -> [String]? {
        guard let a = try array(key) else { return nil }
        var out: [String] = []
        for (i, e) in a.enumerated() {
            guard let s = e.stringValue else {
                throw CNIError(.decodeFailure, "\(field(key))[\(i)] must be a string, not \(e.typeName) \(Self.excerpt(e))")
            }
            out.append(s)
        }
        return out
    }

    public func invalid(_ key: String, _ reason: String) -> CNIError {
        CNIError(.invalidConfig, "\(field(key)): \(reason)")
    }
}
