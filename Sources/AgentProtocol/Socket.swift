#if canImport(Glibc)
import Glibc
#endif

/// One connected `AF_UNIX`/`SOCK_SEQPACKET` socket: message boundaries are the kernel's, so a request or a reply
/// is one `send` and one `recv`, with no framing code on either side. The object is the descriptor's only owner.
/// Handed from the accepting thread to exactly one serving thread, hence `@unchecked Sendable`.
public final class SeqPacketConnection: @unchecked Sendable {
    public let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Connects to `path`; `timeout` bounds every later send and receive.
    public static func connect(path: String, timeout: Double) throws(AgentUnreachable) -> SeqPacketConnection {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentUnreachable(socket: path, reason: "socket: \(errnoText())") }
        let c = SeqPacketConnection(fd: fd)
        c.setTimeout(timeout)
        let rc = try withAddress(path) { (sa, len) throws(AgentUnreachable) in Glibc.connect(fd, sa, len) }
        guard rc == 0 else { throw AgentUnreachable(socket: path, reason: "connect: \(errnoText())") }
        return c
    }

    public func setTimeout(_ seconds: Double) {
        let s = max(seconds, 0.001)
        var tv = timeval(tv_sec: Int(s), tv_usec: Int((s - Double(Int(s))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one message whole (`MSG_NOSIGNAL`: a peer that went away is an error, not a SIGPIPE).
    public func send(_ bytes: [UInt8]) -> Int32? {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n == bytes.count { return nil }
            if n < 0 && errno == EINTR { continue }
            return n < 0 ? errno : EMSGSIZE
        }
    }

    /// Receives one message: nil at the peer's orderly close; errno on failure (EAGAIN: the timeout passed).
    public func receive(limit: Int = AgentRequest.maxMessage) -> Result<[UInt8]?, ReceiveError> {
        while true {
            // The size of the next message first (MSG_TRUNC reports a datagram's real length), then the message.
            var probe: UInt8 = 0
            let size = recv(fd, &probe, 0, Int32(MSG_PEEK) | Int32(MSG_TRUNC))
            if size < 0 {
                if errno == EINTR { continue }
                return .failure(ReceiveError(errno: errno))
            }
            if size > limit { return .failure(ReceiveError(errno: EMSGSIZE)) }
            var buf = [UInt8](repeating: 0, count: max(size, 1))
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReceiveError(errno: errno))
            }
            if n == 0 && size == 0 { return .success(nil) }
            return .success(Array(buf[0..<n]))
        }
    }

    /// The peer's credentials (`SO_PEERCRED`): the process that connected, as the kernel saw it then.
    public func peer() -> (pid: Int32, uid: UInt32, gid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc exports it only under _GNU_SOURCE).
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, len == 12 else { return nil }
        return cred
    }

    public struct ReceiveError: Error, CustomStringConvertible {
        public var errno: Int32
        public var description: String {
            errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time" : String(cString: strerror(errno))
        }
    }
}

/// The agent's listening socket: bound at a path, mode 0600 (root only), the descriptor's only owner (shared by
/// the accepting thread and whoever stops it, hence a class).
public final class SeqPacketListener: @unchecked Sendable {
    public let fd: Int32
    public let path: String

    /// Binds `path` (a stale socket file left by a dead agent is replaced: the caller holds the agent's lock).
    public init(path: String, backlog: Int32 = 128) throws(AgentUnreachable) {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentUnreachable(socket: path, reason: "socket: \(errnoText())") }
        unlink(path)
        // Created with no permission for group or others from the start (umask), then pinned to 0600.
        let old = umask(0o177)
        let rc = try withAddress(path) { (sa, len) throws(AgentUnreachable) in bind(fd, sa, len) }
        let bindErrno = errno
        umask(old)
        guard rc == 0 else { close(fd); throw AgentUnreachable(socket: path, reason: "bind: \(String(cString: strerror(bindErrno)))") }
        chmod(path, 0o600)
        guard listen(fd, backlog) == 0 else {
            let e = errnoText()
            close(fd)
            throw AgentUnreachable(socket: path, reason: "listen: \(e)")
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Makes a blocked or later `accept` fail (`isShutDown` then true); the path is removed.
    public func shutdown() {
        isShutDown = true
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        unlink(path)
    }

    public private(set) var isShutDown = false

    /// The next connection; nil on EINTR or a transient failure (the caller loops), or after `shutdown`.
    public func accept() -> SeqPacketConnection? {
        let c = Glibc.accept(fd, nil, nil)
        guard c >= 0 else {
            if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000) }
            return nil
        }
        _ = fcntl(c, F_SETFD, FD_CLOEXEC)
        // Replies can be large (a Describe of a busy subnet): as root, lift the send buffer past wmem_max.
        var size: Int32 = Int32(AgentRequest.maxMessage)
        if setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            setsockopt(c, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return SeqPacketConnection(fd: c)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Runs `body` with a `sockaddr_un` for `path` (at most 107 bytes).
func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(AgentUnreachable) -> R)
    throws(AgentUnreachable) -> R {
    var sa = sockaddr_un()
    sa.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: sa.sun_path)
    guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
        throw AgentUnreachable(socket: path, reason: "not a usable socket path (1 to \(capacity - 1) bytes)")
    }
    withUnsafeMutableBytes(of: &sa.sun_path) { p in
        for (i, b) in bytes.enumerated() { p[i] = b }
    }
    let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + 1)
    return try withUnsafePointer(to: &sa) { p throws(AgentUnreachable) in
        try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp throws(AgentUnreachable) in try body(sp, len) }
    }
}
