#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON

/// Optional JSON-lines log (`logFile`, `logLevel`). One line per event; the file is created 0600 and appended to
/// with O_APPEND so concurrent invocations never interleave within a line. Nothing secret is ever passed here.
struct EventLog {
    let path: String?
    let level: NetConf.LogLevel
    let wallClock: @Sendable () -> Double
    var base: JSONObject

    init(path: String?, level: NetConf.LogLevel, wallClock: @escaping @Sendable () -> Double, base: JSONObject) {
        self.path = path
        self.level = level
        self.wallClock = wallClock
        self.base = base
    }

    func write(_ lvl: NetConf.LogLevel, _ message: String, _ fields: JSONObject = JSONObject()) {
        guard let path, lvl <= level else { return }
        var o = JSONObject()
        o["time"] = .number(JSONNumber(text: String(format3(wallClock())))!)
        o["level"] = .string(lvl.rawValue)
        o["msg"] = .string(message)
        for (k, v) in base { o[k] = v }
        for (k, v) in fields { o[k] = v }
        let line = Array((JSON.object(o).serialized() + "\n").utf8)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    private func format3(_ t: Double) -> String {
        let ms = Int64(t * 1000)
        let frac = ms % 1000
        return "\(ms / 1000)." + String(repeating: "0", count: frac < 10 ? 2 : frac < 100 ? 1 : 0) + "\(frac)"
    }
}
