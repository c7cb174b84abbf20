// The node agent (`eni-multus-node agent`) for the test tiers: every EC2-registered plugin run reaches EC2 through
// one, exactly as on a node. One agent per distinct AWS environment (emulator endpoints, IMDS, credentials), started
// on first use and kept for the test process's life.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct NodeAgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public final class NodeAgentProcess: @unchecked Sendable {
    public static let socketVariable = "ENI_MULTUS_AGENT_SOCKET"

    /// The socket the plugin is pointed at (`ENI_MULTUS_AGENT_SOCKET`).
    public let socket: String
    /// The agent's data directory (its lock, holding its pid).
    public let dataDir: String
    public let logPath: String
    /// The `sh` that runs the agent and kills it when our end of its stdin closes (this process exited).
    private let wrapper: pid_t
    private var stdinFD: Int32
    private let lock = NSLock()

    /// The built `eni-multus-node` next to the test bundle (`.build/<config>/`).
    public static var binary: String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        var dir = n > 0 ? (String(cString: buf) as NSString).deletingLastPathComponent : ""
        while !dir.isEmpty && dir != "/" && !FileManager.default.isExecutableFile(atPath: dir + "/eni-multus-node") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir + "/eni-multus-node"
    }

    /// Starts an agent with exactly `environment` (plus PATH), in the test process's own network namespace (where
    /// the emulator listens, as the DaemonSet's agent runs in the node's), and waits for its socket.
    /// `netns`: a network namespace path to run it in instead (where a test's own AWS stand-in listens).
    public init(environment: [String: String], arguments: [String] = [], netns: String? = nil, timeout: Double = 20) throws {
        var template = Array("/tmp/emt-agent.XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw NodeAgentError("mkdtemp: errno \(errno)") }
        dataDir = String(cString: p)
        socket = dataDir + "/agent.sock"
        logPath = dataDir + "/agent.log"
        var inPipe: [Int32] = [-1, -1]
        guard Shell.makePipe(&inPipe) else { throw NodeAgentError("pipe: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        Shell.resetSignals(&attr)
        // sh keeps the pipe; the agent gets /dev/null. EOF on the pipe (our exit, or stop()) kills the agent.
        let script = #"a="$1"; shift; "$a" "$@" </dev/null & child=$!; trap 'kill -9 $child 2>/dev/null; exit 0' TERM; cat >/dev/null; kill -9 $child 2>/dev/null; wait $child 2>/dev/null; exit 0"#
        var argv = ["/bin/sh", "-c", script, "sh"]
        // The process's network namespace is its main thread's (/proc/PID/ns/net is the thread-group leader's), the
        // one the emulator was started in; tests switch only worker threads into other namespaces.
        if getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter") {
            argv += ["/usr/bin/nsenter", "--net=\(netns ?? "/proc/\(getpid())/ns/net")", "--", Self.binary]
        } else {
            argv += [Self.binary]
        }
        // No reconcile loop of its own: the tests drive GC and reconcile themselves, and count EC2 calls.
        argv += ["agent", "--socket", socket, "--data-dir", dataDir, "--reconcile-interval", "0"] + arguments
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let rc = Shell.withCStrings(argv) { cargv in
            Shell.withCStrings(envStrings) { cenv in posix_spawn(&child, "/bin/sh", &actions, &attr, cargv, cenv) }
        }
        close(inPipe[0])
        guard rc == 0 else {
            close(inPipe[1])
            throw NodeAgentError("cannot start the agent: \(String(cString: strerror(rc)))")
        }
        wrapper = child
        stdinFD = inPipe[1]
        let deadline = Date().addingTimeInterval(timeout)
        while !Self.connectable(socket) {
            var st: Int32 = 0
            if waitpid(child, &st, WNOHANG) == child {
                throw NodeAgentError("the agent exited at start-up: \(log())")
            }
            if Date() > deadline {
                stop()
                throw NodeAgentError("the agent did not listen on \(socket) within \(timeout) s: \(log())")
            }
            usleep(20_000)
        }
    }

    deinit { stop() }

    /// The agent's pid (from its lock file), nil when it has none.
    public var agentPID: pid_t? {
        guard let s = try? String(contentsOfFile: dataDir + "/agent.lock", encoding: .utf8) else { return nil }
        return pid_t(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the agent (closing its wrapper's stdin) and waits for it.
    public func stop() {
        lock.lock()
        let fd = stdinFD
        stdinFD = -1
        lock.unlock()
        guard fd >= 0 else { return }
        close(fd)
        var st: Int32 = 0
        while waitpid(wrapper, &st, 0) < 0 && errno == EINTR {}
        _ = try? FileManager.default.removeItem(atPath: dataDir)
    }

    static func connectable(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else { return false }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// The agents shared by every test that does not need its own.
    public static let shared = NodeAgents()

    /// The variables a plugin run gets from `environment`, through the shared agents (`NodeAgents.pluginVariables`).
    public static func pluginVariables(for environment: [String: String]) throws -> [String: String] {
        try shared.pluginVariables(for: environment)
    }
}

/// Agents by AWS environment: one agent per distinct set of `AWS_*` variables, started on first use.
public final class NodeAgents: @unchecked Sendable {
    private var agents: [[String: String]: NodeAgentProcess] = [:]
    private let lock = NSLock()

    public init() {}

    /// The agent holding exactly `environment`'s `AWS_*` variables.
    public func agent(for environment: [String: String]) throws -> NodeAgentProcess {
        let aws = environment.filter { $0.key.hasPrefix("AWS_") }
        lock.lock()
        defer { lock.unlock() }
        if let a = agents[aws] { return a }
        let a = try NodeAgentProcess(environment: aws)
        agents[aws] = a
        return a
    }

    /// The variables a plugin run gets from `environment`: its `AWS_*` variables (endpoints, IMDS, credentials)
    /// go to the agent that holds exactly them, and the plugin gets that agent's socket plus every other
    /// variable, as on a node where only the agent has AWS settings.
    public func pluginVariables(for environment: [String: String]) throws -> [String: String] {
        var rest = environment.filter { !$0.key.hasPrefix("AWS_") }
        rest[NodeAgentProcess.socketVariable] = try agent(for: environment).socket
        return rest
    }

    public func stopAll() {
        let all = lock.withLock { () -> [NodeAgentProcess] in
            defer { agents = [:] }
            return Array(agents.values)
        }
        for a in all { a.stop() }
    }
}

extension EC2Emulator {
    /// What a plugin run needs to reach this emulator (`NodeAgentProcess.pluginVariables`): `environment`
    /// (default: the emulator's own AWS variables) with its AWS part handed to a node agent.
    public func pluginEnvironment(_ environment: [String: String]? = nil) throws -> [String: String] {
        try NodeAgentProcess.pluginVariables(for: environment ?? self.environment)
    }
}
