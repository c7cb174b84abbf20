// The test EC2 environment: moto + an IMDSv2 emulator + a fault proxy + a control API, all on 127.0.0.1, in one
// Python process (Tests/Emulators/ec2env.py; its docstring is the control API reference).
//
//   @Suite(.serialized, .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
//   struct UnitSomethingEC2Tests {
//       static let env = Result { try EC2Emulator() }      // one emulator per suite, started on first use
//       @Test func add() throws {
//           let emu = try Self.env.get()
//           let world = try emu.scenario([:])              // reset + the standard scenario; returns ids/MACs
//           … run the plugin with emu.environment …
//           #expect(try emu.enis()[eniID]?.privateIps.contains("10.0.100.7") == true)
//       }
//   }
//
// With CI=true the suite is enabled even without python3/moto, so a missing emulator fails instead of skipping
// (`EC2Emulator.init` throws a clear error).  The Python process exits when this process closes the pipe on its
// stdin (stop(), deinit, or this process dying for any reason) or when its parent process goes away.
//
// Everything is loopback-only: `EC2Emulator.http` refuses any host other than 127.0.0.1.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public struct EC2EmulatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class EC2Emulator: @unchecked Sendable {
    /// The fault proxy in front of moto: point EC2 (and STS) clients here.
    public let ec2URL: String
    /// moto itself: no faults, no counting.
    public let motoURL: String
    /// The IMDSv2 emulator speaking for the scenario's first instance.
    public let imdsURL: String
    /// The control API.
    public let controlURL: String
    public let region: String
    public let accountID: String
    public let pid: pid_t
    /// Wall time from spawn to the ready line.
    public let startupSeconds: Double
    /// Where the emulator's stderr was created; the file is unlinked right after the spawn (read it through
    /// `log()`) unless ENI_MULTUS_KEEP_EC2ENV_LOG=1.
    public let logPath: String
    private let logFD: Int32

    private let lock = NSLock()
    private var stdinFD: Int32
    private var stopped = false

    /// The credentials every emulator endpoint accepts (and the signature checker knows).
    public static let accessKeyID = "testing"
    public static let secretAccessKey = "testing"

    /// Where ec2env.py is: $ENI_MULTUS_EC2ENV, else next to this file's directory, else under the cwd.
    public static var scriptPath: String {
        if let p = ProcessInfo.processInfo.environment["ENI_MULTUS_EC2ENV"], !p.isEmpty { return p }
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let p = here.appendingPathComponent("Emulators/ec2env.py").path
        if FileManager.default.fileExists(atPath: p) { return p }
        return FileManager.default.currentDirectoryPath + "/Tests/Emulators/ec2env.py"
    }

    /// python3 runs and can import moto's server and boto3 (probed once).  Suites use
    /// `.enabled(if: EC2Emulator.isAvailable || Capabilities.isCI)` so CI fails instead of skipping.
    public static let isAvailable: Bool = {
        Shell.run(["python3", "-c", "import moto.moto_server.threaded_moto_server, boto3, botocore"], timeout: 60)
            .status == 0 && FileManager.default.fileExists(atPath: scriptPath)
    }()

    /// How long the ready line may take: 30 s on a host; 180 s inside user-mode Linux, where every page fault and
    /// syscall of Python importing moto is a host round trip (30 s was missed there once in five kernel-tier runs).
    public static var readyTimeout: Double { ProcessInfo.processInfo.environment["ENI_MULTUS_IN_UML"] == "1" ? 180 : 30 }

    /// Starts `python3 Tests/Emulators/ec2env.py ARGS` and waits for its ready line.
    /// - Parameters:
    ///   - arguments: extra ec2env.py flags, e.g. `["--http-tokens", "optional"]` or `["--scenario", "{}"]`.
    ///   - timeout: seconds to wait for the ready line (`readyTimeout` by default).
    public init(arguments: [String] = [], timeout: Double = EC2Emulator.readyTimeout) throws {
        let started = Date()
        let log = NSTemporaryDirectory() + "/ec2env-\(getpid())-\(uniqueName(prefix: "", length: 8)).log"
        logPath = log
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        guard Self.makePipe(&inPipe) else { throw EC2EmulatorError("pipe: errno \(errno)") }
        guard Self.makePipe(&outPipe) else {
            close(inPipe[0]); close(inPipe[1])
            throw EC2EmulatorError("pipe: errno \(errno)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        let lfd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard lfd >= 0 else {
            close(inPipe[0]); close(inPipe[1]); close(outPipe[0]); close(outPipe[1])
            throw EC2EmulatorError("open \(log): errno \(errno)")
        }
        logFD = lfd
        if ProcessInfo.processInfo.environment["ENI_MULTUS_KEEP_EC2ENV_LOG"] != "1" { unlink(log) }
        posix_spawn_file_actions_adddup2(&actions, lfd, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        Shell.resetSignals(&attr)
        let argv = ["python3", Self.scriptPath] + arguments
        let envStrings = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let rc = Shell.withCStrings(argv) { cargv in
            Shell.withCStrings(envStrings) { cenv in posix_spawnp(&child, "python3", &actions, &attr, cargv, cenv) }
        }
        close(inPipe[0])
        close(outPipe[1])
        if rc != 0 {
            close(inPipe[1]); close(outPipe[0]); close(lfd)
            throw EC2EmulatorError("cannot start python3 \(Self.scriptPath): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdinFD = inPipe[1]

        // Read the ready line.
        var line: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        var failure: String?
        while true {
            if let nl = line.firstIndex(of: 10) { line = Array(line[..<nl]); break }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { failure = "no ready line within \(timeout)s"; break }
            var p = pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(min(left * 1000 + 1, 1000)))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { continue }
            let r = buf.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress!, $0.count) }
            if r > 0 { line.append(contentsOf: buf[0..<r]); continue }
            if r < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            failure = "exited before it was ready"
            break
        }
        close(outPipe[0])
        func fail(_ why: String) -> EC2EmulatorError {
            close(inPipe[1])
            kill(child, SIGKILL)
            var st: Int32 = 0
            _ = waitpid(child, &st, 0)
            let tail = Self.readAll(lfd).suffix(4000)
            close(lfd)
            return EC2EmulatorError("ec2env.py \(why) (python3 with moto[server]==5.2.1 needed; "
                + "`bash scripts/setup.sh test` installs it)\nstderr:\n\(tail)")
        }
        if let failure { throw fail(failure) }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let ec2 = obj["ec2"] as? String, let imds = obj["imds"] as? String,
              let control = obj["control"] as? String, let moto = obj["moto"] as? String
        else { throw fail("printed an unexpected ready line: \(String(decoding: line, as: UTF8.self))") }
        ec2URL = ec2
        imdsURL = imds
        controlURL = control
        motoURL = moto
        region = obj["region"] as? String ?? "us-east-1"
        accountID = obj["accountId"] as? String ?? "123456789012"
        startupSeconds = Date().timeIntervalSince(started)
    }

    deinit { stop() }

    /// Closes the emulator's stdin (it exits), sends SIGTERM, and reaps it (SIGKILL after 3 s).  Idempotent.
    public func stop() {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        let fd = stdinFD
        stdinFD = -1
        lock.unlock()
        if fd >= 0 { close(fd) }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(3)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        close(logFD)
    }

    /// The emulator's stderr so far (tracebacks, `--verbose` fault lines).
    public func log() -> String {
        lock.lock()
        defer { lock.unlock() }
        return stopped ? "" : Self.readAll(logFD)
    }

    private static func readAll(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var off: off_t = 0
        while true {
            let r = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off) }
            if r <= 0 { break }
            out.append(contentsOf: buf[0..<r])
            off += off_t(r)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Closes only the pipe on the emulator's stdin (what happens when the test process dies) and returns whether
    /// the process exited within `timeout` seconds (it is reaped either way).
    public func closeStdinAndWait(timeout: Double = 5) -> Bool {
        lock.lock()
        if stopped { lock.unlock(); return true }
        let fd = stdinFD
        stdinFD = -1
        stopped = true
        lock.unlock()
        defer { close(logFD) }
        if fd >= 0 { close(fd) }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return false
            }
            usleep(10_000)
        }
        return true
    }

    // MARK: environment for clients

    /// Variables that point an AWS client (the plugin, boto3) at this emulator with the test credentials.
    public var environment: [String: String] {
        [
            "AWS_ENDPOINT_URL_EC2": ec2URL,
            "AWS_ENDPOINT_URL_STS": ec2URL,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imdsURL,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": Self.accessKeyID,
            "AWS_SECRET_ACCESS_KEY": Self.secretAccessKey,
            "AWS_EC2_METADATA_DISABLED": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        ]
    }

    // MARK: control API

    /// Calls the control API; returns the decoded JSON answer.  Throws on non-2xx.
    @discardableResult
    public func control(_ method: String, _ path: String, json: Any? = nil) throws -> Any {
        let body: [UInt8] = try json.map { Array(try JSONSerialization.data(withJSONObject: $0)) } ?? []
        let r = try Self.http(method, controlURL + path, headers: ["Content-Type": "application/json"], body: body)
        guard (200..<300).contains(r.status) else {
            throw EC2EmulatorError("control \(method) \(path): HTTP \(r.status): \(r.text)")
        }
        return try JSONSerialization.jsonObject(with: Data(r.body), options: [.fragmentsAllowed])
    }

    /// moto reset + seed (deterministic ids), clears faults, counts, request log, IMDS switches, prefixes, limits.
    public func reset(seed: Int? = nil) throws {
        try control("POST", "/_emulator/reset", json: seed.map { ["seed": $0] } ?? [String: Any]())
    }

    /// Reset, then build a scenario (see `build_scenario` in ec2env.py; `[:]` is the standard one: VPC 10.0.0.0/16
    /// + IPv6, nodes-/multus- subnets in two AZs, node1 (m5.large) with "multus" (device 1, no_manage=true) and
    /// "untagged" (device 2)).  Returns {vpc, subnets, securityGroups, instances{name:{id,mac,imds,enis}}, enis}.
    @discardableResult
    public func scenario(_ json: [String: Any] = [:]) throws -> [String: Any] {
        guard let r = try control("POST", "/_emulator/scenario", json: json) as? [String: Any] else {
            throw EC2EmulatorError("scenario: unexpected answer")
        }
        return r
    }

    /// Adds a fault rule to the ec2 proxy; returns its id.  mode: throttle (503 RequestLimitExceeded), error500,
    /// unavailable (503 Unavailable), error (status/code/message), drop, drop-after, reset, delay.
    @discardableResult
    public func fault(
        action: String? = nil, mode: String = "throttle", every: Int? = nil, count: Int? = nil,
        delayMs: Int? = nil, status: Int? = nil, code: String? = nil, message: String? = nil
    ) throws -> Int {
        var rule: [String: Any] = ["mode": mode]
        if let action { rule["action"] = action }
        if let every { rule["every"] = every }
        if let count { rule["count"] = count }
        if let delayMs { rule["delayMs"] = delayMs }
        if let status { rule["status"] = status }
        if let code { rule["code"] = code }
        if let message { rule["message"] = message }
        let r = try control("POST", "/_emulator/fault", json: rule) as? [String: Any]
        return r?["id"] as? Int ?? 0
    }

    public func clearFaults() throws { try control("DELETE", "/_emulator/fault") }

    /// Calls received by the ec2 proxy per Action (faulted ones included).
    public func counts() throws -> [String: Int] {
        (try control("GET", "/_emulator/counts") as? [String: Int]) ?? [:]
    }

    /// Zeroes counts, the request log and IMDS request counts.
    public func resetCounts() throws { try control("POST", "/_emulator/counts/reset") }

    /// The proxy's request log (optionally one Action): [{seq, action, service, region, accessKeyId, params,
    /// status, fault, signature}].
    public func requests(action: String? = nil) throws -> [[String: Any]] {
        let q = action.map { "?action=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        return (try control("GET", "/_emulator/requests" + q) as? [[String: Any]]) ?? []
    }

    /// One ENI as moto holds it now.
    public struct ENI: Sendable, Equatable {
        public let id: String
        public let mac: String
        public let subnetID: String
        public let instanceID: String?
        public let deviceIndex: Int?
        public let status: String
        /// Primary first.
        public let privateIps: [String]
        public let ipv6s: [String]
        public let tags: [String: String]
        public let sourceDestCheck: Bool?
        public let description: String
        /// IPv4 /28 and IPv6 /80 prefixes, in assignment order (the emulator records them; moto has none).
        public let ipv4Prefixes: [String]
        public let ipv6Prefixes: [String]
    }

    /// Every ENI in moto, by id.
    public func enis() throws -> [String: ENI] {
        guard let m = try control("GET", "/_emulator/enis") as? [String: [String: Any]] else { return [:] }
        var out: [String: ENI] = [:]
        for (id, e) in m {
            out[id] = ENI(
                id: id, mac: e["mac"] as? String ?? "", subnetID: e["subnetId"] as? String ?? "",
                instanceID: e["instanceId"] as? String, deviceIndex: e["deviceIndex"] as? Int,
                status: e["status"] as? String ?? "", privateIps: e["privateIps"] as? [String] ?? [],
                ipv6s: e["ipv6s"] as? [String] ?? [], tags: e["tags"] as? [String: String] ?? [:],
                sourceDestCheck: e["sourceDestCheck"] as? Bool, description: e["description"] as? String ?? "",
                ipv4Prefixes: e["ipv4Prefixes"] as? [String] ?? [], ipv6Prefixes: e["ipv6Prefixes"] as? [String] ?? [])
        }
        return out
    }

    /// Per-ENI address limits for the proxy's address model: private IPv4 addresses (primary included) + IPv4
    /// prefixes may not exceed `ipv4PerENI`, IPv6 addresses + IPv6 prefixes not `ipv6PerENI`
    /// (→ PrivateIpAddressLimitExceeded).  nil: unlimited (the default; reset and scenario clear both).
    public func setLimits(ipv4PerENI: Int?, ipv6PerENI: Int?) throws {
        try control("POST", "/_emulator/limits", json: [
            "ipv4PerEni": ipv4PerENI.map { $0 as Any } ?? NSNull(),
            "ipv6PerEni": ipv6PerENI.map { $0 as Any } ?? NSNull(),
        ])
    }

    /// The current per-ENI limits (nil: unlimited).
    public func limits() throws -> (ipv4PerENI: Int?, ipv6PerENI: Int?) {
        let r = try control("GET", "/_emulator/limits") as? [String: Any]
        return (r?["ipv4PerEni"] as? Int, r?["ipv6PerEni"] as? Int)
    }

    /// {"enis": {...}, "instances": {...}} as JSON objects.
    public func state() throws -> [String: Any] {
        (try control("GET", "/_emulator/state") as? [String: Any]) ?? [:]
    }

    /// Sets IMDS switches (instance, httpTokens, lagMs, expireTokens, maxTokenTtl, fail, failStatus, delayMs, role,
    /// credentials, userData, containerToken) on the main IMDS or the one at `imds` (URL or port).
    @discardableResult
    public func imds(_ switches: [String: Any], imds: String? = nil) throws -> [String: Any] {
        var s = switches
        if let imds { s["imds"] = imds }
        return (try control("POST", "/_emulator/imds/config", json: s) as? [String: Any]) ?? [:]
    }

    /// Starts another IMDS server speaking for `instance`; returns its URL.
    public func newIMDS(instance: String) throws -> String {
        let r = try control("POST", "/_emulator/imds", json: ["instance": instance]) as? [String: Any]
        guard let url = r?["imds"] as? String else { throw EC2EmulatorError("newIMDS: no url") }
        return url
    }

    /// Switches SigV4 verification in the proxy; registers extra access key → secret pairs.
    public func sigv4(verify: Bool, credentials: [String: String] = [:]) throws {
        try control("POST", "/_emulator/sigv4", json: ["verify": verify, "credentials": credentials])
    }

    // MARK: a loopback-only HTTP/1.1 client (no URLSession, no curl dependency)

    public struct HTTPResponse: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// One request over a fresh connection (`Connection: close`).  Throws when the host is not 127.0.0.1, on a
    /// connection error, a timeout, or a connection closed without a reply (EC2EmulatorError "no reply").
    public static func http(
        _ method: String, _ url: String, headers: [String: String] = [:], body: [UInt8] = [], timeout: Double = 30
    ) throws -> HTTPResponse {
        guard url.hasPrefix("http://127.0.0.1:") else { throw EC2EmulatorError("loopback URLs only: \(url)") }
        let rest = url.dropFirst("http://127.0.0.1:".count)
        let portText = rest.prefix { $0.isNumber }
        guard let port = UInt16(portText) else { throw EC2EmulatorError("bad URL \(url)") }
        var path = String(rest.dropFirst(portText.count))
        if path.isEmpty { path = "/" }

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EC2EmulatorError("socket: errno \(errno)") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let c = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard c == 0 else { throw EC2EmulatorError("connect \(url): \(String(cString: strerror(errno)))") }

        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        var hasLength = false
        for (k, v) in headers {
            if k.lowercased() == "content-length" { hasLength = true }
            head += "\(k): \(v)\r\n"
        }
        if !hasLength && (!body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let out = Array(head.utf8) + body
        var off = 0
        while off < out.count {
            let w = out.withUnsafeBytes { send(fd, $0.baseAddress! + off, out.count - off, Int32(MSG_NOSIGNAL)) }
            if w < 0 {
                if errno == EINTR { continue }
                throw EC2EmulatorError("send \(url): \(String(cString: strerror(errno)))")
            }
            off += w
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if r > 0 { data.append(contentsOf: buf[0..<r]); continue }
            if r == 0 { break }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw EC2EmulatorError("timeout after \(timeout)s: \(url)") }
            if errno == ECONNRESET && data.isEmpty { throw EC2EmulatorError("no reply (connection reset): \(url)") }
            throw EC2EmulatorError("recv \(url): \(String(cString: strerror(errno)))")
        }
        guard !data.isEmpty else { throw EC2EmulatorError("no reply (connection closed): \(url)") }
        guard let sep = Self.find([13, 10, 13, 10], in: data) else {
            throw EC2EmulatorError("malformed reply from \(url)")
        }
        let headText = String(decoding: data[..<sep], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw EC2EmulatorError("malformed status line from \(url)")
        }
        let hdrs: [(String, String)] = lines.compactMap { l in
            guard let i = l.firstIndex(of: ":") else { return nil }
            return (String(l[..<i]), l[l.index(after: i)...].trimmingCharacters(in: .whitespaces))
        }
        var bodyBytes = Array(data[(sep + 4)...])
        if let cl = hdrs.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }),
           cl < bodyBytes.count {
            bodyBytes = Array(bodyBytes[..<cl])
        }
        return HTTPResponse(status: status, headers: hdrs, body: bodyBytes)
    }

    /// `http` with a String body.
    public static func http(
        _ method: String, _ url: String, headers: [String: String] = [:], text: String, timeout: Double = 30
    ) throws -> HTTPResponse {
        try http(method, url, headers: headers, body: Array(text.utf8), timeout: timeout)
    }

    // MARK: helpers

    private static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// pipe2(O_CLOEXEC): the emulator's stdin pipe must never leak into another child, or the emulator would
    /// outlive this process.
    private static func makePipe(_ fds: inout [Int32]) -> Bool { Shell.makePipe(&fds) }
}
