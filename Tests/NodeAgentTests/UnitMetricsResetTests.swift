#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// The metrics endpoint must survive a scraper that resets its connection: the built `eni-multus-node agent`
/// process (the DaemonSet's) and `eni-multus-node reconcile` (the one-shot command, same server) (a write to a reset socket raises SIGPIPE, whose default action ends the
/// process, and with it the container) is reset at several points of a request, then must still answer.
@Suite struct UnitMetricsResetTests {
    /// The eni-multus-node built with this test bundle (beside it), else .build/debug/eni-multus-node.
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = (exe as NSString).deletingLastPathComponent + "/eni-multus-node"
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return root + "/.build/debug/eni-multus-node"
    }

    /// Connects to 127.0.0.1:port; returns the fd or -1.
    static func connectLoopback(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        if !ok { close(fd); return -1 }
        return fd
    }

    /// Closes with SO_LINGER 0: the peer gets a RST instead of a FIN.
    static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// A loopback port nobody listens on now (bound, read back, released).
    static func freeLoopbackPort() -> UInt16? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 } }
        return ok ? UInt16(bigEndian: sa.sin_port) : nil
    }

    /// `GET path` over HTTP/1.0 from 127.0.0.1:port: the whole answer (until the server closes).
    static func get(_ port: UInt16, path: String = "/metrics") -> String {
        let fd = connectLoopback(port)
        guard fd >= 0 else { return "connect failed: errno \(errno)" }
        defer { close(fd) }
        let req = Array("GET \(path) HTTP/1.0\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: UnitMetricsResetTests.binary),
                   "needs the eni-multus-node binary beside the test bundle or in .build/debug (swift build)"),
          arguments: ["agent", "reconcile"])
    func aScraperThatResetsItsConnectionDoesNotEndTheProcess(command: String) throws {
        let dir = NSTemporaryDirectory() + "/emt-metrics-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        let port = try #require(Self.freeLoopbackPort(), "no free loopback port")
        p.arguments = command == "agent"
            ? ["agent", "--socket", dir + "/agent.sock", "--data-dir", dir, "--metrics-port", String(port),
               "--metrics-address", "127.0.0.1", "--reconcile-interval", "3600"]
            : ["reconcile", "--metrics-port", String(port), "--metrics-address", "127.0.0.1",
               "--interval", "3600", "--plugin-data-dir", dir]
        // Nothing reaches beyond loopback: EC2 and IMDS point at a closed loopback port.
        p.environment = ["PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                         "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:9",
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // SIGKILL: a child of the test runner may inherit SIGTERM blocked.
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }

        // Listening once a connection succeeds (30 s at most).
        var up = false
        for _ in 0..<300 where p.isRunning {
            let fd = Self.connectLoopback(port)
            if fd >= 0 { close(fd); up = true; break }
            usleep(100_000)
        }
        try #require(up, "the metrics endpoint never listened on 127.0.0.1:\(port)")
        let listening = port

        // Reset before the request, right after it, and while the answer is being written.
        for sendFirst in [false, true, true, false, true] {
            let fd = Self.connectLoopback(listening)
            #expect(fd >= 0, "connect: errno \(errno)")
            if fd < 0 { continue }
            if sendFirst {
                let req = Array("GET /metrics HTTP/1.0\r\n\r\n".utf8)
                _ = req.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            Self.reset(fd)
            usleep(100_000)
        }
        let answer = Self.get(listening)
        #expect(p.isRunning, "the process ended after a reset connection (status \(p.isRunning ? 0 : p.terminationStatus), reason \(p.isRunning ? "-" : String(describing: p.terminationReason)))")
        #expect(answer.hasPrefix("HTTP/1.0 200"), "\(answer.prefix(200))")
        #expect(answer.contains("eni_multus_reconcile_passes_total"), "\(answer.prefix(400))")
        if command == "agent" { #expect(answer.contains("eni_multus_agent_requests_total"), "\(answer.prefix(400))") }
    }
}
