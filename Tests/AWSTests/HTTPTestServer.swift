// Test helpers of the AWS transport/signing tests: a loopback HTTP server (python3's http.server, started per
// test on a free 127.0.0.1 port) and a python3 runner. Nothing here contacts anything but 127.0.0.1.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum AWSTestEnv {
    /// CI=true (or 1/yes): tests that need python3/botocore must not skip.
    static var isCI: Bool {
        guard let v = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
        return v == "true" || v == "1" || v == "yes"
    }

    static let python3: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/python3"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }()

    /// `python3 -c 'import botocore'` succeeds.
    static let hasBotocore: Bool = {
        guard python3 != nil else { return false }
        return (try? runPython("import botocore", stdin: "").status) == 0
    }()

    /// The package root (this file is Tests/AWSTests/HTTPTestServer.swift).
    static var packageRoot: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    /// Runs `python3 -c script` with `stdin`; returns status, stdout, stderr.
    static func runPython(_ script: String, stdin: String,
                          arguments: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let python3 else { throw TestSkip("python3 not found") }
        return try run([python3, "-c", script] + arguments, stdin: stdin)
    }

    static func run(_ argv: [String], stdin: String = "") throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so neither fills up.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = errPipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// A 127.0.0.1 TCP port nothing listens on (bound, then closed).
    static func refusedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

struct TestSkip: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A python3 `http.server` on 127.0.0.1 (HTTP/1.1, keep-alive, one thread per connection) that counts the
/// connections it accepted. Routes (any method):
///   /echo         200, JSON {method, path, headers: [[name, value]…], body: hex}
///   /raw?status=N N (default 200), the request body back, `X-Mixed-Case: Value`, `X-Twice: 1`, `X-Twice: 2`
///   /sleep?ms=N   waits, then 200 "slept"
///   /close        closes the connection without a reply
///   /stats        200, JSON {connections}
final class LoopbackHTTPServer {
    let port: Int
    private let process: Process

    var base: String { "http://127.0.0.1:\(port)" }

    static let script = #"""
import os; os.closerange(3, 65536)  # drop descriptors leaked from the test process (see ec2env.py)
import http.server, socketserver, sys, json, time, threading
from urllib.parse import urlsplit, parse_qs
lock = threading.Lock()
connections = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        global connections
        with lock:
            connections += 1
        super().setup()
    def log_message(self, *a):
        pass
    def reply(self, status, body, ctype="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        if u.path == "/echo":
            out = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                   "body": body.hex()}
            self.reply(200, json.dumps(out).encode(), "application/json")
        elif u.path == "/raw":
            self.reply(int(q.get("status", ["200"])[0]), body, extra=[("X-Mixed-Case", "Value"), ("X-Twice", "1"),
                       ("X-Twice", "2")])
        elif u.path == "/sleep":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000.0)
            try:
                self.reply(200, b"slept")
            except OSError:
                pass
        elif u.path == "/close":
            self.close_connection = True
        elif u.path == "/stats":
            with lock:
                c = connections
            self.reply(200, json.dumps({"connections": c}).encode(), "application/json")
        else:
            self.reply(404, b"no such route")
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), s.shutdown()), daemon=True).start()
s.serve_forever()
"""#

    private let stdinPipe = Pipe()

    init() throws {
        guard let python3 = AWSTestEnv.python3 else { throw TestSkip("python3 not found") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: python3)
        process.arguments = ["-c", Self.script]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = stdinPipe
        try process.run()
        // The first line is the port.
        var line = Data()
        while true {
            let b = out.fileHandleForReading.readData(ofLength: 1)
            if b.isEmpty || b == Data([0x0a]) { break }
            line.append(b)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self)) else {
            process.terminate()
            throw TestSkip("loopback server did not start")
        }
        port = p
    }

    /// Stops the server (closing its stdin ends it; SIGTERM as a fallback) and waits for it.
    func stop() {
        try? stdinPipe.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}
