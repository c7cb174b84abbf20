import JSON

/// The error codes of the CNI specification (1.1.0, "Error" section) that this plugin emits.
public enum CNIErrorCode: Int, Sendable {
    case incompatibleVersion = 1
    case unsupportedField = 2
    case unknownContainer = 3
    case invalidEnvironment = 4
    case ioFailure = 5
    case decodeFailure = 6
    case invalidConfig = 7
    case tryAgainLater = 11
    case notAvailable = 50
    case notAvailableLimited = 51
    /// Plugin-specific codes start at 100.
    case linkFailure = 100
    case addressFailure = 101
    case ipamExhausted = 102
    case ipamConflict = 103
    case delegateFailure = 104
    case checkMismatch = 105
    case ec2Failure = 106
    case internalFailure = 999
}

/// The wire error: printed as `{"cniVersion","code","msg","details"}` on stdout with a non-zero exit.
/// Other modules have their own typed errors; ENIMultusCore maps them to this type in one place.
public struct CNIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var msg: String
    public var details: String

    public init(_ code: CNIErrorCode, _ msg: String, details: String = "") {
        self.code = code.rawValue
        self.msg = msg
        self.details = details
    }

    public init(rawCode: Int, _ msg: String, details: String = "") {
        self.code = rawCode
        self.msg = msg
        self.details = details
    }

    public var description: String { details.isEmpty ? msg : "\(msg) (\(details))" }

    /// The same error with `msg` and `details` cut to at most `limit` bytes each (on a character boundary, with
    /// the original size appended): a hostile value echoed in a message (a 10 MB network name) must not flood
    /// stdout, stderr, the log or the runtime's events.
    public func clamped(to limit: Int = 2048) -> CNIError {
        func cut(_ s: String) -> String {
            guard s.utf8.count > limit else { return s }
            var out = "", n = 0
            for ch in s {
                n += ch.utf8.count
                if n > limit { break }
                out.append(ch)
            }
            return out + "... (\(s.utf8.count) bytes)"
        }
        return CNIError(rawCode: code, cut(msg), details: cut(details))
    }

    /// The error object as the spec prints it, in the version the caller asked for.
    public func json(cniVersion: String) -> JSON {
        var o = JSONObject()
        o["cniVersion"] = .string(cniVersion)
        o["code"] = .number(JSONNumber(code))
        o["msg"] = .string(msg)
        if !details.isEmpty { o["details"] = .string(details) }
        return .object(o)
    }
}
