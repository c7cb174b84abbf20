// Shared helpers for the IPAM unit tests: temporary data directories, configuration builders, error capture
// and a checker of the on-disk store's invariants.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Testing
import Platform
@testable import IPAM
import CNI
import JSON
import NetTypes
import NodeState

/// A fresh directory under /tmp (mkdtemp), 0700.
func makeTempDir(_ tag: String = "ipam") -> String {
    var template = Array("/tmp/emt-\(tag).XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed: errno \(errno)")
    return String(cString: p!)
}

/// Runs `body` with a fresh temporary directory and removes it afterwards.
func withTempDir<T>(_ tag: String = "ipam", _ body: (String) throws -> T) rethrows -> T {
    let d = makeTempDir(tag)
    defer { try? FileManager.default.removeItem(atPath: d) }
    return try body(d)
}

func ip(_ s: String) -> IPAddress {
    guard let a = IPAddress(s) else { fatalError("bad test address \(s)") }
    return a
}

func key(_ c: String, _ i: String = "eth0") -> AttachmentKey { AttachmentKey(containerID: c, ifname: i) }

func jsonObject(_ text: String) -> JSONObject {
    guard let o = (try? JSON.parse(text))?.objectValue else { fatalError("bad test JSON: \(text)") }
    return o
}

/// Parses an `ipam` object.
func ipamConfig(_ text: String) throws(CNIError) -> IPAMConfig { try IPAMConfig(jsonObject(text)) }

/// The CNIError an `ipam` object is rejected with (nil if accepted).
func configError(_ text: String) -> CNIError? {
    do { _ = try ipamConfig(text); return nil } catch { return error }
}

/// The IPAMError a call throws (nil if it succeeds).
/// (Closures infer `throws(any Error)` without the FullTypedThrows feature, hence the cast.)
func ipamError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> IPAMError? {
    do {
        try body()
        return nil
    } catch let e as IPAMError {
        return e
    } catch {
        Issue.record("expected an IPAMError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// `{"dataDir": dir, "ranges": ranges}` plus extra keys. Cooldown is off unless `extra` sets it (the cooldown
/// tests do), so tests of reuse and exhaustion see released addresses at once.
func rangesConfig(_ dir: String, _ ranges: String, extra: String = "") -> IPAMConfig {
    let more = extra.contains("cooldownSeconds") ? extra : (extra.isEmpty ? "" : extra + ",") + "\"cooldownSeconds\":0"
    let text = "{\"type\":\"eni-multus\",\"dataDir\":\"\(dir)\",\"ranges\":\(ranges),\(more)}"
    do { return try ipamConfig(text) } catch { fatalError("config rejected: \(error): \(text)") }
}

/// An allocator over a single range set with one range of `subnet` (plus optional range keys).
func allocator(_ dir: String, subnet: String, start: String? = nil, end: String? = nil, gateway: String? = nil,
               network: String = "net1") -> RangeAllocator {
    var r = "\"subnet\":\"\(subnet)\""
    if let start { r += ",\"rangeStart\":\"\(start)\"" }
    if let end { r += ",\"rangeEnd\":\"\(end)\"" }
    if let gateway { r += ",\"gateway\":\"\(gateway)\"" }
    return RangeAllocator(config: rangesConfig(dir, "[[{\(r)}]]"), network: network)
}

func allocator(_ dir: String, ranges: String, network: String = "net1") -> RangeAllocator {
    RangeAllocator(config: rangesConfig(dir, ranges), network: network)
}

/// Allocates and returns the addresses only.
func alloc(_ a: RangeAllocator, _ k: AttachmentKey, _ requested: [String] = []) throws(IPAMError) -> [IPAddress] {
    let req = requested.map { RequestedIP($0)! }
    return try a.allocate(k, requested: req).map(\.address.address)
}

func fileText(_ path: String) -> String? {
    guard let d = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: d, as: UTF8.self)
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o600) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
    precondition(fd >= 0, "open \(path): errno \(errno)")
    _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    chmod(path, mode)
}

func listDir(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_mode
}

/// Checks the store invariants: every record's addresses have address files naming the record's owner, every
/// address file belongs to a record listing it, no address is in two records, no temporary files.
/// Returns the problems found (empty when consistent) and the addresses held per key.
func storeProblems(_ a: RangeAllocator) -> (problems: [String], held: [AttachmentKey: [IPAddress]]) {
    var problems: [String] = []
    var held: [AttachmentKey: [IPAddress]] = [:]
    var owners: [IPAddress: AttachmentKey] = [:]
    for name in listDir(a.root + "/attachments") {
        if name.contains(".tmp.") { problems.append("temporary file attachments/\(name)"); continue }
        guard let k = AttachmentKey(fileName: name) else { problems.append("bad record name \(name)"); continue }
        guard let text = fileText(a.root + "/attachments/" + name) else { problems.append("unreadable \(name)"); continue }
        guard let ips = AttachmentRecord.decode(Array(text.utf8)) else { problems.append("torn record \(name)"); continue }
        held[k] = ips
        for x in ips {
            if let o = owners[x] { problems.append("\(x) recorded by both \(o) and \(k)") }
            owners[x] = k
            let owner = fileText(a.root + "/ips/\(x)")
            if owner != "\(k.containerID)\n\(k.ifname)\n" {
                problems.append("address file of \(x) for \(k) is \(owner.map { "\"\($0)\"" } ?? "missing")")
            }
        }
    }
    for name in listDir(a.root + "/ips") {
        guard let x = IPAddress(name) else { problems.append("non-address file ips/\(name)"); continue }
        if owners[x] == nil { problems.append("orphan address file ips/\(name)") }
    }
    return (problems, held)
}

/// All addresses an assignable-range walk would visit, for small test ranges.
func assignable(_ r: IPRange) -> [IPAddress] {
    var out: [IPAddress] = []
    var x = r.rangeStart
    while true {
        if r.isAssignable(x) { out.append(x) }
        if x == r.rangeEnd { break }
        x = x.next()
    }
    return out
}

// MARK: worker processes

/// Other processes running IPAM code. The test target cannot exec Swift code of its own and fork() of the
/// multi-threaded test process can deadlock the child on a runtime lock held by another thread (seen here: 2 of
/// 10 forked children hung once in ~6 runs). So a worker is a fresh copy of the test binary (/proc/self/exe)
/// run with `--testing-library swift-testing --filter UnitIPAMMultiProcessWorker/worker`: that test is a no-op unless
/// EMT_IPAM_WORKER_MODE is set, and then it runs `IPAMWorker.run` (below) and writes its report to
/// EMT_IPAM_WORKER_OUT. Workers block on fd 3 (the read end of a "start" pipe) until the parent closes the write
/// end, so they all start together and really contend for the flock.
struct WorkerSpec {
    var mode: String
    var dataDir: String
    var ranges: String
    var network = "net1"
    var count = 0
    var fileSizeLimit: Int? = nil
}

struct WorkerResult {
    var output: String?        // nil: the worker wrote no report
    var status: Int32          // raw wait status
    var exitCode: Int32? { (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil }
    var signal: Int32? { (status & 0x7f) != 0 ? status & 0x7f : nil }
}

/// Starts one worker per spec, releases them together, waits up to `timeout` seconds (then SIGKILLs the ones it
/// started that are still running) and returns their reports.
func runWorkers(_ specs: [WorkerSpec], timeout: Double = 120) -> [WorkerResult] {
    let exe = "/proc/self/exe"
    let outDir = makeTempDir("ipamw")
    defer { try? FileManager.default.removeItem(atPath: outDir) }
    var start: [Int32] = [0, 0]
    precondition(pipe(&start) == 0)
    _ = fcntl(start[0], F_SETFD, FD_CLOEXEC)    // dup2 onto fd 3 clears it for the workers
    _ = fcntl(start[1], F_SETFD, FD_CLOEXEC)
    var pids: [pid_t] = []
    for (i, s) in specs.enumerated() {
        var env = [
            "EMT_IPAM_WORKER_MODE": s.mode, "EMT_IPAM_WORKER_DIR": s.dataDir, "EMT_IPAM_WORKER_RANGES": s.ranges,
            "EMT_IPAM_WORKER_NETWORK": s.network, "EMT_IPAM_WORKER_INDEX": "\(i)", "EMT_IPAM_WORKER_COUNT": "\(s.count)",
            "EMT_IPAM_WORKER_OUT": "\(outDir)/\(i)", "PATH": "/usr/bin:/bin",
        ]
        if let l = s.fileSizeLimit { env["EMT_IPAM_WORKER_FSIZE"] = "\(l)" }
        let argv = [exe, "--testing-library", "swift-testing", "--filter", "UnitIPAMMultiProcessWorker/worker"]
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        posix_spawn_file_actions_adddup2(&fa, start[0], 3)
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, "\(outDir)/\(i).stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGXFSZ)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cargv = argv.map { strdup($0) } + [nil]
        let cenv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &fa, &attr, cargv, cenv)
        for p in cargv { free(p) }
        for p in cenv { free(p) }
        posix_spawn_file_actions_destroy(&fa)
        posix_spawnattr_destroy(&attr)
        precondition(rc == 0, "posix_spawn \(exe): \(rc)")
        pids.append(pid)
    }
    close(start[0])
    close(start[1])     // EOF on fd 3: every worker goes
    var statuses = [Int32?](repeating: nil, count: pids.count)
    var t0 = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t0)
    while statuses.contains(where: { $0 == nil }) {
        for (i, pid) in pids.enumerated() where statuses[i] == nil {
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid { statuses[i] = st }
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        if Double(now.tv_sec - t0.tv_sec) > timeout {
            for (i, pid) in pids.enumerated() where statuses[i] == nil {
                kill(pid, SIGKILL)
                var st: Int32 = 0
                while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
                statuses[i] = st
            }
        }
        usleep(5000)
    }
    return pids.indices.map { i in
        var out = fileText("\(outDir)/\(i)")
        if out == nil, let so = fileText("\(outDir)/\(i).stdout"), !so.isEmpty, statuses[i]! & 0x7f == 0 {
            out = nil
            Issue.record("worker \(i) wrote no report; its test-runner output:\n\(so.suffix(2000))")
        }
        return WorkerResult(output: out, status: statuses[i]!)
    }
}

/// What a worker process does (run inside the re-executed test binary).
enum IPAMWorker {
    static func run(_ env: [String: String]) -> String {
        let mode = env["EMT_IPAM_WORKER_MODE"] ?? ""
        let w = Int(env["EMT_IPAM_WORKER_INDEX"] ?? "") ?? 0
        let n = Int(env["EMT_IPAM_WORKER_COUNT"] ?? "") ?? 0
        let a = RangeAllocator(config: rangesConfig(env["EMT_IPAM_WORKER_DIR"]!, env["EMT_IPAM_WORKER_RANGES"]!),
                               network: env["EMT_IPAM_WORKER_NETWORK"] ?? "net1")
        // Wait for the start signal: EOF on fd 3.
        var b: UInt8 = 0
        while read(3, &b, 1) < 0 && errno == EINTR {}
        close(3)
        if let l = env["EMT_IPAM_WORKER_FSIZE"].flatMap({ rlim_t($0) }) {
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)     // SIGXFSZ would dump core
            _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)
            var lim = rlimit(rlim_cur: l, rlim_max: l)
            _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &lim)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGXFSZ)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            signal(SIGXFSZ, SIG_DFL)
        }
        var lines = ""
        switch mode {
        case "alloc":                       // n allocations, keys w<i>-<j>
            for j in 0..<n {
                let k = AttachmentKey(containerID: "w\(w)-\(j)", ifname: "eth0")
                do {
                    let r = try a.allocate(k, requested: [])
                    lines += "OK \(k.containerID) \(r.map { "\($0.address.address)" }.joined(separator: ","))\n"
                } catch {
                    if case .exhausted = error { lines += "EXHAUSTED \(k.containerID)\n" } else { lines += "ERR \(k.containerID) \(error)\n" }
                }
            }
        case "mixed", "mixed-requested":   // n allocations, every third released twice
            for j in 0..<n {
                let k = AttachmentKey(containerID: "w\(w)-\(j)", ifname: "eth0")
                do {
                    let req = mode == "mixed-requested" ? [RequestedIP("10.102.0.\(200 + j)")!] : []
                    let r = try a.allocate(k, requested: req)
                    lines += "OK \(k.containerID) \(r.map { "\($0.address.address)" }.joined(separator: ","))\n"
                    if j % 3 == 2 {
                        try a.release(k)
                        try a.release(k)
                        lines += "REL \(k.containerID)\n"
                    }
                } catch { lines += "ERR \(k.containerID) \(error)\n" }
            }
        case "gc":                          // n GC passes keeping every w<0..8>-<0..14> key
            var valid = Set<AttachmentKey>()
            for x in 0..<9 { for j in 0..<15 { valid.insert(AttachmentKey(containerID: "w\(x)-\(j)", ifname: "eth0")) } }
            for _ in 0..<n { for e in a.collectGarbage(valid: valid) { lines += "ERR gc \(e)\n" } }
        case "crash-alloc":                 // killed by SIGXFSZ while writing
            _ = try? a.allocate(AttachmentKey(containerID: "crashed", ifname: "eth0"), requested: [])
            lines += "NOT KILLED\n"
        case "crash-cursor":
            try? FileIO.writeAtomically(a.root + "/last_reserved_ip.0", Array("10.80.0.77".utf8), .hint)
            lines += "NOT KILLED\n"
        default:
            lines += "ERR unknown mode \(mode)\n"
        }
        return lines
    }
}

/// Runs one `crash-*` worker with a file-size limit: the kernel kills it with SIGXFSZ as soon as it writes past
/// that offset in any regular file, i.e. a SIGKILL at a precise point of a write without hooks in the code under
/// test. Returns the signal that ended it (nil if it exited).
func crashWorker(_ mode: String, _ a: RangeAllocator, ranges: String, fileSizeLimit: Int) -> Int32? {
    var s = WorkerSpec(mode: mode, dataDir: a.config.dataDir, ranges: ranges, network: a.network)
    s.fileSizeLimit = fileSizeLimit
    return runWorkers([s], timeout: 60)[0].signal
}
