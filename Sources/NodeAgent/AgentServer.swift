#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol

/// `eni-multus-node agent`: the node's only holder of EC2 rights. Plugins connect to its socket (root only, and
/// the peer is checked with `SO_PEERCRED`) and send one request per datagram; every request runs through the one
/// `Broker`. One agent per node: a second one finds the lock held and stops.
public final class AgentServer: @unchecked Sendable {
    public let socketPath: String
    public let lockPath: String
    let broker: Broker
    let log: @Sendable (String) -> Void
    /// Peers allowed besides uid 0: the agent's own uid (a test running unprivileged talks to its own agent).
    let allowedUIDs: Set<UInt32>

    public init(socketPath: String, dataDir: String, broker: Broker, log: @escaping @Sendable (String) -> Void) {
        self.socketPath = socketPath
        self.lockPath = dataDir + "/agent.lock"
        self.broker = broker
        self.log = log
        allowedUIDs = [0, getuid()]
    }

    public enum StartError: Error, CustomStringConvertible {
        case lock(String)
        case socket(AgentUnreachable)
        public var description: String {
            switch self {
            case .lock(let s): s
            case .socket(let e): "cannot listen on \(e.socket): \(e.reason)"
            }
        }
    }

    /// Takes the node's agent lock, binds the socket, starts the broker and serves until the process ends.
    public func run() throws(StartError) -> Never {
        signal(SIGPIPE, SIG_IGN)
        let running = try start()
        while true { withExtendedLifetime(running) { _ = pause() } }
    }

    /// A started agent: its accept loop runs on its own thread until `stop`.
    public final class Running: @unchecked Sendable {
        let listener: SeqPacketListener
        let lockFD: Int32
        init(listener: SeqPacketListener, lockFD: Int32) {
            self.listener = listener
            self.lockFD = lockFD
        }
        /// Stops accepting, removes the socket and releases the lock (connections already open finish their
        /// request; the broker's thread stays, idle).
        public func stop() {
            listener.shutdown()
            close(lockFD)
        }
    }

    /// Takes the lock, binds the socket, starts the broker and the accept loop; returns once the socket listens.
    public func start() throws(StartError) -> Running {
        let lockFD = try takeLock()
        makeParent(of: socketPath, mode: 0o755)
        let listener: SeqPacketListener
        do { listener = try SeqPacketListener(path: socketPath) } catch {
            close(lockFD)
            throw .socket(error)
        }
        broker.start()
        log("agent: listening on \(socketPath) (pid \(getpid()), protocol v\(AgentRequest.version))")
        spawnThread { [self] in
            while !listener.isShutDown {
                guard let c = listener.accept() else { continue }
                spawnThread { [self] in self.serve(c) }
            }
        }
        return Running(listener: listener, lockFD: lockFD)
    }

    func takeLock() throws(StartError) -> Int32 {
        makeParent(of: lockPath, mode: 0o755)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .lock("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, buf.count, 0)
            let holder = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingTrailingNewlines : "?"
            close(fd)
            throw .lock("another eni-multus agent holds \(lockPath) (pid \(holder)); one agent per node")
        }
        let pid = Array("\(getpid())\n".utf8)
        ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    /// One connection: requests answered in order until the peer closes it.
    func serve(_ c: SeqPacketConnection) {
        guard let peer = c.peer(), allowedUIDs.contains(peer.uid) else {
            let who = c.peer().map { "uid \($0.uid), pid \($0.pid)" } ?? "unknown peer"
            log("agent: refused a connection from \(who): only root may use the agent")
            _ = c.send(AgentReply.failed(.refused("only root may use the eni-multus agent")).encoded())
            return
        }
        while true {
            let bytes: [UInt8]
            switch c.receive() {
            case .success(let b?): bytes = b
            case .success(nil), .failure: return
            }
            let reply: AgentReply
            do {
                let (request, timeout) = try AgentRequest.decode(bytes)
                reply = broker.submit(request, timeout: timeout)
            } catch {
                reply = .failed(.refused("\(error)"))
            }
            if c.send(reply.encoded()) != nil { return }
        }
    }
}

func makeParent(of path: String, mode: mode_t) {
    var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    parts.removeLast()
    var p = ""
    for part in parts {
        p += "/" + part
        mkdir(p, mode)
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last == "\n" || s.last == "\r" { s.removeLast() }
        return s
    }
}
