// Running the plugin binary the way a runtime does, with what the fault campaign needs beyond
// `Shell.run`: how it ended (a failpoint's SIGKILL), its wall time, and a child spawned from the calling thread, so
// a caller that has switched its thread into a network namespace (`NetNS.run`) starts the plugin inside that
// namespace.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Platform

/// What `ChildProcess.run` returns.
public struct ChildResult: Sendable, CustomStringConvertible {
    /// The exit code, or 128 + the signal that ended the child (137: SIGKILL), 124 after a timeout, 127 when it
    /// could not be started.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Wall seconds from spawn to exit.
    public var seconds: Double

    public init(status: Int32, stdout: String, stderr: String, seconds: Double) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
    }

    public var killedBySIGKILL: Bool { status == 128 + SIGKILL }
    public var description: String {
        "status \(status) after \(String(format: "%.3f", seconds)) s"
            + (stdout.isEmpty ? "" : "\nstdout: \(stdout.prefix(1500))")
            + (stderr.isEmpty ? "" : "\nstderr: \(stderr.prefix(800))")
    }
}

public enum ChildProcess {
    /// Runs `argv` (argv[0] a path) with exactly `env`, feeds it `stdin`, and collects its output. The child is
    /// spawned from the calling thread (so it starts in that thread's network namespace); a timeout kills it (124).
    public static func run(_ argv: [String], env: [String: String], stdin: [UInt8], timeout: Double = 120) -> ChildResult {
        do {
            let r = try Subprocess.run(argv, environment: env, stdin: stdin, timeout: timeout)
            return ChildResult(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self),
                               stderr: String(decoding: r.stderr, as: UTF8.self), seconds: r.seconds)
        } catch {
            return failed("cannot start \(argv[0]): \(error)", Date())
        }
    }

    private static func failed(_ why: String, _ started: Date) -> ChildResult {
        ChildResult(status: 127, stdout: "", stderr: "ChildProcess: \(why)\n", seconds: Date().timeIntervalSince(started))
    }

}
