/// A JSON syntax error: where the parser stopped and why.
///
/// `offset` is a zero-based byte offset into the input (for a `Collection` that
/// is not zero-based, it counts bytes from its `startIndex`).
public struct JSONError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Byte offset of the fault.
    public var offset: Int
    /// A short, lower-case explanation, e.g. "unterminated string".
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// "invalid JSON at byte <offset>: <reason>"
    public var description: String {
        "invalid JSON at byte \(offset): \(reason)"
    }
}
