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
    /// spawned from the calling thread (so it starts in that thread's network namespace). When the child stops
    public static func run(_ argv: [String], env: [String: String], stdin: [UInt8], timeout: Double = 120) -> ChildResult {
        let started = Date()
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard Shell.makePipe(&inPipe) else { return failed("pipe: errno \(errno)", started) }
        guard Shell.makePipe(&outPipe) else { close(inPipe[0]); close(inPipe[1]); return failed("pipe: errno \(errno)", started) }
        guard Shell.makePipe(&errPipe) else {
            for fd in inPipe + outPipe { close(fd) }
            return failed("pipe: errno \(errno)", started)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        Shell.resetSignals(&attr)
        var pid: pid_t = 0
        let envStrings = env.map { "\($0.key)=\($0.value)" }.sorted()
        let rc = Shell.withCStrings(argv) { a in Shell.withCStrings(envStrings) { e in posix_spawn(&pid, argv[0], &actions, &attr, a, e) } }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] { close(fd) }
            return failed("cannot start \(argv[0]): \(String(cString: strerror(rc)))", started)
        }
        // The input is a network config (well under a pipe's buffer); the plugin reads all of it before anything else.
        _ = signal(SIGPIPE, SIG_IGN)
        var off = 0
        while off < stdin.count {
            let w = stdin.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + off, $0.count - off) }
            if w > 0 { off += w } else if w < 0 && errno == EINTR { continue } else { break }
        }
        close(inPipe[1])

        var out: [UInt8] = [], err: [UInt8] = []
        var outFD = outPipe[0], errFD = errPipe[0]
        var status: Int32 = 0
        var reaped = false, timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = started.addingTimeInterval(timeout)
        while outFD >= 0 || errFD >= 0 || !reaped {
            if outFD >= 0 || errFD >= 0 {
                var fds: [pollfd] = []
                if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
                if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
                let n = poll(&fds, nfds_t(fds.count), reaped ? 1000 : 5)
                if n > 0 {
                    for p in fds where p.revents != 0 {
                        let r = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress!, $0.count) }
                        if r > 0 {
                            if p.fd == outFD { out += buffer[0..<r] } else { err += buffer[0..<r] }
                        } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                            if p.fd == outFD { close(outFD); outFD = -1 } else { close(errFD); errFD = -1 }
                        }
                    }
                }
            } else if !reaped {
                usleep(2000)
            }
            if !reaped {
                var st: Int32 = 0
                let w = waitpid(pid, &st, WNOHANG)
                if w == pid {
                    status = st
                    reaped = true
                } else if w < 0 && errno != EINTR {
                    reaped = true
                }
            }
            if !reaped && Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
            }
        }
        let code: Int32 = timedOut ? 124 : (status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        return ChildResult(status: code, stdout: String(decoding: out, as: UTF8.self),
                           stderr: String(decoding: err, as: UTF8.self), seconds: Date().timeIntervalSince(started))
    }

    private static func failed(_ why: String, _ started: Date) -> ChildResult {
        ChildResult(status: 127, stdout: "", stderr: "ChildProcess: \(why)\n", seconds: Date().timeIntervalSince(started))
    }

}
