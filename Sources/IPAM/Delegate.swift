#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON

/// Runs another IPAM plugin from `CNI_PATH`, as the spec describes: the same environment (with `CNI_COMMAND`
/// set) and the same stdin, its result decoded from whatever supported version it prints.
public struct DelegatedIPAM: Sendable {
    public let type: String
    public let executable: String

    /// Finds `type` in the `CNI_PATH` directories.
    public init(type: String, searchPath: [String]) throws(IPAMError) {
        guard !type.isEmpty, !type.utf8.contains(47), type != ".", type != ".." else {  // bytes: "/\u{301}" is one Character
            throw .delegateUnusable(plugin: type, reason: "ipam.type must be a plugin name, not a path")
        }
        self.type = type
        for dir in searchPath where !dir.isEmpty {
            let p = dir.hasSuffix("/") ? dir + type : dir + "/" + type
            var st = stat()
            if stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(p, X_OK) == 0 {
                executable = p
                return
            }
        }
        throw .delegateUnusable(plugin: type,
                                reason: "not found in CNI_PATH (\(searchPath.joined(separator: ":")))")
    }

    /// Runs the plugin for `command`. Returns its stdout on success; a CNI error it printed becomes `delegateFailed`.
    public func run(_ command: CNICommand, env: [String: String], stdin: [UInt8]) throws(IPAMError) -> [UInt8] {
        var e = env
        e["CNI_COMMAND"] = command.rawValue
        var out: ProcessOutput?
        // ETXTBSY: the binary is being replaced (an installer's rename, or a writer's fd inherited by a concurrent
        // fork). libcni retries this too; so do we, with a short backoff.
        for attempt in 0..<6 {
            do {
                out = try ProcessRunner.run(executable, arguments: [], environment: e, stdin: stdin)
                break
            } catch let errno {
                guard errno.code == ETXTBSY, attempt < 5 else {
                    throw .delegateUnusable(plugin: type, reason: "cannot run \(executable): \(String(cString: strerror(errno.code)))")
                }
                usleep(UInt32(20_000 << attempt))
            }
        }
        guard let out else { throw .delegateUnusable(plugin: type, reason: "cannot run \(executable)") }
        if out.status != 0 {
            if let j = try? JSON.parse(out.stdout), let code = j["code"]?.int64Value {
                throw .delegateFailed(plugin: type, code: Int(code), msg: j["msg"]?.stringValue ?? "",
                                      details: j["details"]?.stringValue ?? "")
            }
            // One line: the plugin's own error message is a single line on stderr and in `msg`.
            let err = String(decoding: out.stderr.prefix(2000), as: UTF8.self)
                .split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.allSatisfy(\.isWhitespace) }
                .joined(separator: "; ")
            throw .delegateUnusable(plugin: type, reason: "exited with status \(out.status): \(err)")
        }
        return out.stdout
    }

    /// ADD: the delegate's result.
    public func add(env: [String: String], stdin: [UInt8]) throws(IPAMError) -> CNIResult {
        let bytes = try run(.add, env: env, stdin: stdin)
        do {
            let j = try JSON.parse(bytes)
            return try CNIResult.decode(j, field: "result of IPAM plugin \(type)")
        } catch {
            throw .delegateUnusable(plugin: type, reason: "printed no usable result: \(error)")
        }
    }
}

public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
}

public struct Errno: Error, Sendable { public var code: Int32 }

/// posix_spawn with stdin/stdout/stderr pipes, pumped with poll (the plugin starts no threads).
public enum ProcessRunner {
    public static func run(_ path: String, arguments: [String], environment: [String: String],
                           stdin input: [UInt8]) throws(Errno) -> ProcessOutput {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        for i in 0..<3 {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw Errno(code: errno) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            if i == 0 { inPipe = fds } else if i == 1 { outPipe = fds } else { errPipe = fds }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw Errno(code: rc)
        }
        var out: [UInt8] = [], err: [UInt8] = []
        var written = 0
        var inFD: Int32 = inPipe[1]
        if input.isEmpty { close(inFD); inFD = -1 }
        // Non-blocking: a child that writes while we feed it must never wait on us (nor we on it).
        if inFD >= 0 { _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK) }
        var outOpen = true, errOpen = true
        var buf = [UInt8](repeating: 0, count: 65536)
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, oldPipe) }
        while outOpen || errOpen || inFD >= 0 {
            var fds: [pollfd] = []
            if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            if outOpen { fds.append(pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)) }
            if errOpen { fds.append(pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for f in fds where f.revents != 0 {
                if f.fd == inFD {
                    let n = input.withUnsafeBytes { p in write(inFD, p.baseAddress! + written, min(p.count - written, 65536)) }
                    if n > 0 { written += n }
                    if n < 0 && errno != EINTR && errno != EAGAIN || written == input.count {
                        close(inFD); inFD = -1
                    }
                } else {
                    let n = buf.withUnsafeMutableBytes { p in read(f.fd, p.baseAddress, p.count) }
                    if n > 0 {
                        if f.fd == outPipe[0] { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        if f.fd == outPipe[0] { outOpen = false } else { errOpen = false }
                    }
                }
            }
        }
        if inFD >= 0 { close(inFD) }
        close(outPipe[0]); close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessOutput(status: code, stdout: out, stderr: err)
    }
}
