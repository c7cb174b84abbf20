import Glibc

/// A failed netlink request, namespace switch, sysctl or announcement.
///
/// `errno` is the positive error number the kernel (or libc) reported; `operation` says what was being
/// done in words a log reader understands; `extAck` is the kernel's extended-ack message
/// (`NLMSGERR_ATTR_MSG`) when it sent one.
public struct NetlinkError: Error, Sendable, CustomStringConvertible, Equatable {
    public var errno: Int32
    public var operation: String
    public var extAck: String?

    public init(errno: Int32, operation: String, extAck: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.extAck = extAck
    }

    /// `"<operation>: <strerror(errno)>[ (kernel: <extAck>)]"`.
    public var description: String {
        var text = "\(operation): \(NetlinkError.message(for: errno))"
        if let extAck, !extAck.isEmpty { text += " (kernel: \(extAck))" }
        return text
    }

    /// `strerror(3)` text for `code`, or `"errno N"` when libc has none.
    public static func message(for code: Int32) -> String {
        let text = strerror(code).map { String(cString: $0) } ?? ""
        return text.isEmpty ? "errno \(code)" : text
    }

    /// True for the errnos that mean "the object is not there": ENODEV (link), ESRCH (route),
    /// EADDRNOTAVAIL (address), ENOENT (sysctl / namespace path).
    public var isNotFound: Bool {
        errno == ENODEV || errno == ESRCH || errno == EADDRNOTAVAIL || errno == ENOENT
    }

    /// True for EEXIST (link, address or route already present).
    public var isAlreadyExists: Bool { errno == EEXIST }
}

/// Runs a libc call that returns -1 and sets `errno` on failure, retrying EINTR.
/// Returns the result, or throws a `NetlinkError` naming `operation`.
@inline(__always)
func syscallRetrying<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ body: () -> T
) throws(NetlinkError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw NetlinkError(errno: code, operation: operation())
    }
}
