// Running external programs from tests: `ip`, the reference CNI plugins, the
// plugin under test.  posix_spawn plus poll(2), so stdout and stderr are read
// concurrently (no pipe deadlock) and stdin is fed while the child runs.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What `Shell.run` returns: the exit status (128 + signal number if the child
/// was killed by a signal, 127 if it could not be started, 124 after a
/// timeout) and the decoded output.
public typealias ShellResult = (status: Int32, stdout: String, stderr: String)

/// Thrown by `Shell.check` and friends when a command exits non-zero.
public struct ShellError: Error, CustomStringConvertible, Sendable {
    public let argv: [String]
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var description: String {
        var s = "command failed with status \(status): \(Shell.quote(argv))"
        let err = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if !err.isEmpty { s += "\nstderr: \(err)" }
        let out = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if !out.isEmpty && out.count <= 2000 { s += "\nstdout: \(out)" }
        return s
    }
}

public enum Shell {
    /// Runs `argv` (argv[0] looked up in PATH unless it contains a slash) and
    /// waits for it.
    ///
    /// - Parameters:
    ///   - stdin: bytes written to the child's standard input, which is then
    ///     closed; nil gives the child /dev/null.
    ///   - env: variables added to (or overriding) this process's environment;
    ///     with `clearEnvironment: true` they are the child's whole environment.
    ///   - timeout: seconds after which the child is killed (status 124).
    public static func run(
        _ argv: [String],
        stdin: [UInt8]? = nil,
        env: [String: String]? = nil,
        clearEnvironment: Bool = false,
        timeout: Double? = nil
    ) -> ShellResult {
        let r = runBytes(argv, stdin: stdin, env: env, clearEnvironment: clearEnvironment, timeout: timeout)
        return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
    }

    /// `run` with a String on standard input.
    public static func run(
        _ argv: [String],
        input: String,
        env: [String: String]? = nil,
        clearEnvironment: Bool = false,
        timeout: Double? = nil
    ) -> ShellResult {
        run(argv, stdin: Array(input.utf8), env: env, clearEnvironment: clearEnvironment, timeout: timeout)
    }

    /// Runs `argv` and returns its stdout; throws `ShellError` (with stderr in
    /// its message) if the status is not 0.
    @discardableResult
    public static func check(
        _ argv: [String],
        stdin: [UInt8]? = nil,
        env: [String: String]? = nil,
        clearEnvironment: Bool = false,
        timeout: Double? = nil
    ) throws -> String {
        let r = run(argv, stdin: stdin, env: env, clearEnvironment: clearEnvironment, timeout: timeout)
        guard r.status == 0 else {
            throw ShellError(argv: argv, status: r.status, stdout: r.stdout, stderr: r.stderr)
        }
        return r.stdout
    }

    /// Runs a command line through `/bin/sh -c` (for pipes and redirections
    /// in test setup; prefer argv forms elsewhere).
    @discardableResult
    public static func sh(_ script: String, env: [String: String]? = nil) throws -> String {
        try check(["/bin/sh", "-c", script], env: env)
    }

    /// Same as `run` but keeps raw bytes.
    public static func runBytes(
        _ argv: [String],
        stdin: [UInt8]? = nil,
        env: [String: String]? = nil,
        clearEnvironment: Bool = false,
        timeout: Double? = nil
    ) -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        precondition(!argv.isEmpty, "Shell.run: empty argv")
        _ = ignoreSIGPIPE

        var environment: [String: String] = clearEnvironment ? [:] : ProcessInfo.processInfo.environment
        if let env { for (k, v) in env { environment[k] = v } }
        let envStrings = environment.map { "\($0.key)=\($0.value)" }.sorted()

        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        guard makePipe(&outPipe), makePipe(&errPipe) else {
            return (127, [], Array("Shell.run: pipe failed: errno \(errno)\n".utf8))
        }
        if stdin != nil {
            guard makePipe(&inPipe) else {
                closeAll(outPipe + errPipe)
                return (127, [], Array("Shell.run: pipe failed: errno \(errno)\n".utf8))
            }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        resetSignals(&attr)

        var pid: pid_t = 0
        let spawnStatus: Int32 = withCStrings(argv) { cargv in
            withCStrings(envStrings) { cenv in
                posix_spawnp(&pid, argv[0], &actions, &attr, cargv, cenv)
            }
        }
        close(outPipe[1])
        close(errPipe[1])
        if stdin != nil { close(inPipe[0]) }
        if spawnStatus != 0 {
            closeAll([outPipe[0], errPipe[0]] + (stdin != nil ? [inPipe[1]] : []))
            let msg = "Shell.run: cannot start \(argv[0]): \(String(cString: strerror(spawnStatus)))\n"
            return (127, [], Array(msg.utf8))
        }

        var out: [UInt8] = []
        var err: [UInt8] = []
        var input = stdin ?? []
        var inputOffset = 0
        var inFD: Int32 = -1
        if stdin != nil {
            inFD = inPipe[1]
            _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
            if input.isEmpty { close(inFD); inFD = -1 }
        }
        var outFD = outPipe[0]
        var errFD = errPipe[0]
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)

        while outFD >= 0 || errFD >= 0 || inFD >= 0 {
            var fds: [pollfd] = []
            if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            var waitMS: Int32 = -1
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 {
                    timedOut = true
                    kill(pid, SIGKILL)
                    break
                }
                waitMS = Int32(min(left * 1000 + 1, 1000))
            }
            let n = poll(&fds, nfds_t(fds.count), waitMS)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for p in fds where p.revents != 0 {
                if p.fd == inFD {
                    let w = input.withUnsafeBytes { raw in
                        write(inFD, raw.baseAddress! + inputOffset, raw.count - inputOffset)
                    }
                    if w > 0 { inputOffset += w }
                    if (w < 0 && errno != EAGAIN && errno != EINTR) || inputOffset >= input.count
                        || (p.revents & Int16(POLLERR | POLLHUP)) != 0 {
                        close(inFD); inFD = -1
                        input = []
                    }
                    continue
                }
                let r = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress!, $0.count) }
                if r > 0 {
                    if p.fd == outFD { out.append(contentsOf: buffer[0..<r]) } else { err.append(contentsOf: buffer[0..<r]) }
                } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                    if p.fd == outFD { close(outFD); outFD = -1 } else { close(errFD); errFD = -1 }
                }
            }
        }
        closeAll([outFD, errFD, inFD].filter { $0 >= 0 })

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return (127, out, err + Array("Shell.run: waitpid failed\n".utf8)) }
        }
        if timedOut {
            err += Array("Shell.run: killed after \(timeout ?? 0)s timeout\n".utf8)
            return (124, out, err)
        }
        let code: Int32
        if status & 0x7f == 0 {
            code = (status >> 8) & 0xff          // WEXITSTATUS
        } else {
            code = 128 + (status & 0x7f)         // WTERMSIG
        }
        return (code, out, err)
    }

    /// A child that exits without reading all of its stdin must not kill the
    /// test process with SIGPIPE: ignore it here (children get the default
    /// back through POSIX_SPAWN_SETSIGDEF).
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// pipe2(2) with O_CLOEXEC, so a pipe end never leaks into a child spawned
    /// concurrently by another test.  Glibc's Swift module does not export
    /// pipe2, so it is looked up at run time.
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private static let pipe2Function: Pipe2? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { return nil }
        return unsafeBitCast(sym, to: Pipe2.self)
    }()

    static func makePipe(_ fds: inout [Int32]) -> Bool {
        if let pipe2Function {
            return fds.withUnsafeMutableBufferPointer { pipe2Function($0.baseAddress!, O_CLOEXEC) } == 0
        }
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    /// Shell-quotes argv for messages.
    public static func quote(_ argv: [String]) -> String {
        argv.map { a in
            if !a.isEmpty && a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }) {
                return a
            }
            return "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    private static func closeAll(_ fds: [Int32]) {
        for fd in fds where fd >= 0 { close(fd) }
    }

    /// The child starts with default signal dispositions and no blocked signals, whatever the test runner did to
    /// its own threads.
    static func resetSignals(_ attr: inout posix_spawnattr_t) {
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    }

    /// NUL-terminated C strings of `strings`, and a NULL after the last, for argv/envp.
    static func withCStrings<R>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
    ) -> R {
        var cstrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        cstrings.append(nil)
        defer { for p in cstrings { free(p) } }
        return cstrings.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Polls `condition` until it is true or `timeout` seconds pass; returns
/// whether it became true.  For kernel state that settles asynchronously
/// (a NIC returning to the root netns after its netns is deleted, DAD).
@discardableResult
public func waitUntil(timeout: Double = 5, interval: Double = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(interval * 1_000_000))
    }
}
