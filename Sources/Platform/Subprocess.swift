#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An `errno` value as an error.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32
    public init(code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
}

/// How a child process ended, and what it wrote.
public struct SubprocessResult: Sendable {
    /// The exit code; 128 + the signal that ended it (137: SIGKILL); 124 when `timeout` killed it.
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var timedOut: Bool
    /// Wall seconds from spawn to exit.
    public var seconds: Double
}

@_silgen_name("pipe2") private func sys_pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// The one way both binaries and the tests run a child: posix_spawn from the calling thread (so a thread switched into
/// a network namespace starts the child there), stdin/stdout/stderr pipes pumped with poll (no threads), default
/// signal dispositions and an empty signal mask in the child whatever the parent did.
public enum Subprocess {
    /// Runs `argv` (argv[0] a path, or a name looked up in PATH with `searchPath`) with exactly `environment`.
    /// `stdin` nil: the child's stdin is /dev/null. `timeout`: the child is killed (SIGKILL) once it has run that
    /// long. Throws only when the child cannot be started.
    public static func run(_ argv: [String], environment: [String: String], stdin input: [UInt8]?,
                           searchPath: Bool = false, timeout: Double? = nil) throws(Errno) -> SubprocessResult {
        precondition(!argv.isEmpty, "Subprocess.run: empty argv")
        let started = now()
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) else { throw Errno(code: errno) }
        guard pipe(&errPipe) else { closeAll(outPipe); throw Errno(code: errno) }
        if input != nil, !pipe(&inPipe) { closeAll(outPipe + errPipe); throw Errno(code: errno) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t(), empty = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let envStrings = environment.map { "\($0.key)=\($0.value)" }.sorted()
        let rc = withCStrings(argv) { a in
            withCStrings(envStrings) { e in
                searchPath ? posix_spawnp(&pid, argv[0], &actions, &attr, a, e) : posix_spawn(&pid, argv[0], &actions, &attr, a, e)
            }
        }
        close(outPipe[1]); close(errPipe[1])
        if input != nil { close(inPipe[0]) }
        if rc != 0 {
            closeAll([outPipe[0], errPipe[0], inPipe[1]])
            throw Errno(code: rc)
        }

        // A child that exits without reading all of its stdin must not kill us with SIGPIPE.
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, oldPipe) }
        let bytes = input ?? []
        var written = 0
        var inFD: Int32 = input == nil ? -1 : inPipe[1]
        if inFD >= 0 && bytes.isEmpty { close(inFD); inFD = -1 }
        // Non-blocking: a child that writes while we feed it must never wait on us (nor we on it).
        if inFD >= 0 { _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK) }
        var outFD = outPipe[0], errFD = errPipe[0]
        var out: [UInt8] = [], err: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        while outFD >= 0 || errFD >= 0 || inFD >= 0 {
            var fds: [pollfd] = []
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            var waitMS: Int32 = -1
            if let timeout, !timedOut {
                let left = timeout - (now() - started)
                if left <= 0 {
                    timedOut = true
                    kill(pid, SIGKILL)
                    break
                }
                waitMS = Int32(min(left * 1000 + 1, 1000))
            }
            if poll(&fds, nfds_t(fds.count), waitMS) < 0 {
                if errno == EINTR { continue }
                break
            }
            for f in fds where f.revents != 0 {
                if f.fd == inFD {
                    let n = bytes.withUnsafeBytes { p in write(inFD, p.baseAddress! + written, min(p.count - written, 65536)) }
                    if n > 0 { written += n }
                    if (n < 0 && errno != EINTR && errno != EAGAIN) || written == bytes.count
                        || (n <= 0 && f.revents & Int16(POLLERR | POLLHUP) != 0) {
                        close(inFD); inFD = -1
                    }
                    continue
                }
                let n = buf.withUnsafeMutableBytes { p in read(f.fd, p.baseAddress, p.count) }
                if n > 0 {
                    if f.fd == outFD { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    if f.fd == outFD { close(outFD); outFD = -1 } else { close(errFD); errFD = -1 }
                }
            }
        }
        closeAll([outFD, errFD, inFD])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = timedOut ? 124 : ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        return SubprocessResult(status: code, stdout: out, stderr: err, timedOut: timedOut, seconds: now() - started)
    }

    /// pipe2 with O_CLOEXEC: a pipe end never leaks into a child another thread spawns meanwhile.
    public static func pipe(_ fds: inout [Int32]) -> Bool {
        fds.withUnsafeMutableBufferPointer { sys_pipe2($0.baseAddress!, O_CLOEXEC) } == 0
    }

    /// NUL-terminated C strings of `strings`, and a NULL after the last, for argv/envp.
    public static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var cstrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        cstrings.append(nil)
        defer { for p in cstrings { free(p) } }
        return cstrings.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    static func closeAll(_ fds: [Int32]) { for fd in fds where fd >= 0 { close(fd) } }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
