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
import Platform

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
        do {
            let r = try Subprocess.run(argv, environment: environment, stdin: stdin, searchPath: true, timeout: timeout)
            if r.timedOut { return (124, r.stdout, r.stderr + Array("Shell.run: killed after \(timeout ?? 0)s timeout\n".utf8)) }
            return (r.status, r.stdout, r.stderr)
        } catch {
            return (127, [], Array("Shell.run: cannot start \(argv[0]): \(error)\n".utf8))
        }
    }

    /// A child that exits without reading all of its stdin must not kill the test process with SIGPIPE (also
    /// between runs, when a test's own pipe writes meet a gone reader).
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    static func makePipe(_ fds: inout [Int32]) -> Bool { Subprocess.pipe(&fds) }

    /// Shell-quotes argv for messages.
    public static func quote(_ argv: [String]) -> String {
        argv.map { a in
            if !a.isEmpty && a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }) {
                return a
            }
            return "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// The child starts with default signal dispositions and no blocked signals, whatever the test runner did to
    /// its own threads (for the long-running children the tests start themselves: the emulator, agents).
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

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        Subprocess.withCStrings(strings, body)
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
