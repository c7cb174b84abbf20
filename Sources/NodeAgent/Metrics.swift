#if canImport(Glibc)
import Glibc
#endif

/// The reconcile loop's Prometheus metrics (text exposition format 0.0.4), kept in memory by the node agent.
public final class ReconcileMetrics: @unchecked Sendable {
    private let lock = NSLockLite()
    public private(set) var values: [String: Double] = [:]

    /// Name, type, help: the metrics exposed, in order.
    public static let catalogue: [(String, String, String)] = [
        ("eni_multus_assigned_addresses", "gauge", "Addresses and prefixes on this node's multus ENIs owned by a record of this node (last pass)."),
        ("eni_multus_leaked_addresses", "gauge", "Addresses and prefixes on this node's multus ENIs that no record owns (last pass)."),
        ("eni_multus_released_total", "counter", "Unowned addresses and prefixes unassigned after the grace period, plus queued releases completed."),
        ("eni_multus_release_queue", "gauge", "Releases waiting in the durable queues (cooldown or EC2 unavailable)."),
        ("eni_multus_ec2_calls_total", "counter", "EC2 API attempts made by reconcile."),
        ("eni_multus_ec2_errors_total", "counter", "Reconcile passes that met an EC2, IMDS or credentials error."),
        ("eni_multus_ec2_throttles_total", "counter", "EC2 attempts answered with a throttling error."),
        ("eni_multus_reconcile_passes_total", "counter", "Reconcile passes run."),
        ("eni_multus_reconcile_last_success_timestamp_seconds", "gauge", "Wall-clock time of the last pass without errors."),
        ("eni_multus_agent_requests_total", "counter", "Requests the node agent served (plugins' and its own reconcile's)."),
        ("eni_multus_agent_ec2_mutations_total", "counter", "Mutating EC2 calls the node agent made (assign, unassign, prefixes)."),
        ("eni_multus_agent_merged_requests_total", "counter", "Requests answered by an EC2 call shared with other requests."),
        ("eni_multus_agent_throttled_total", "counter", "EC2 calls of the node agent that ended throttled (RequestLimitExceeded)."),
    ]

    public init() {
        for (name, _, _) in Self.catalogue { values[name] = 0 }
    }

    public func record(assigned: Int, leaked: Int, released: Int, queued: Int, ec2Calls: Int, errors: Int,
                       throttles: Int, now: Double) {
        lock.locked {
            values["eni_multus_assigned_addresses"] = Double(assigned)
            values["eni_multus_leaked_addresses"] = Double(leaked)
            values["eni_multus_released_total", default: 0] += Double(released)
            values["eni_multus_release_queue"] = Double(queued)
            values["eni_multus_ec2_calls_total", default: 0] += Double(ec2Calls)
            values["eni_multus_ec2_errors_total", default: 0] += errors > 0 ? 1 : 0
            values["eni_multus_ec2_throttles_total", default: 0] += Double(throttles)
            values["eni_multus_reconcile_passes_total", default: 0] += 1
            if errors == 0 { values["eni_multus_reconcile_last_success_timestamp_seconds"] = now }
        }
    }

    /// Values read at every scrape (the agent's broker statistics), over the recorded ones.
    public var live: (@Sendable () -> [String: Double])?

    public func render() -> String {
        let now = live?() ?? [:]
        return lock.locked {
            for (k, v) in now { values[k] = v }
            var out = ""
            for (name, type, help) in Self.catalogue {
                out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
                let v = values[name] ?? 0
                out += "\(name) \(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v))\n"
            }
            return out
        }
    }
}

/// A pthread mutex, without Foundation.
final class NSLockLite: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return body()
    }
}

/// A minimal HTTP/1.0 server for `GET /metrics` on one port, served from its own thread (one request at a time:
/// Prometheus scrapes, nothing else talks to it). Anything but GET /metrics gets 404.
public final class MetricsServer: @unchecked Sendable {
    public let port: UInt16
    private let fd: Int32
    private let metrics: ReconcileMetrics

    /// Binds `address:port` (port 0: any free port; see `port`).
    public init(address: String, port: UInt16, metrics: ReconcileMetrics) throws(NodeError) {
        self.metrics = metrics
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw .io("metrics socket: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { Glibc.close(s); throw .io("metrics address \(address) is not IPv4") }
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        guard ok, listen(s, 16) == 0 else {
            let e = errno
            Glibc.close(s)
            throw .io("metrics: cannot listen on \(address):\(port): errno \(e)")
        }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = UInt16(bigEndian: bound.sin_port)
        fd = s
    }

    /// Serves forever on a detached thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        pthread_create(&t, nil, { arg in
            let me = Unmanaged<MetricsServer>.fromOpaque(arg!).takeRetainedValue()
            me.serve()
            return nil
        }, box.toOpaque())
        pthread_detach(t)
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR || errno == ECONNABORTED { continue }; return }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(c, &buf, buf.count)
            // A peer that reset or closed before sending a request gets nothing.
            guard n > 0 else { Glibc.close(c); continue }
            let line = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? ""
            let parts = line.split(separator: " ")
            let response: String
            if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
                let body = metrics.render()
                response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            } else {
                response = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            }
            // MSG_NOSIGNAL: a scraper that resets mid-answer gives EPIPE here, not a SIGPIPE that ends the process.
            var bytes = Array(response.utf8)
            var off = 0
            while off < bytes.count {
                let w = bytes.withUnsafeMutableBytes { send(c, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { if w < 0 && errno == EINTR { continue }; break }
                off += w
            }
            Glibc.close(c)
        }
    }
}
