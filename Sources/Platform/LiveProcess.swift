#if canImport(Glibc)
import Glibc
#endif

/// The live process: environment, stdin, stdout/stderr, clocks and randomness, as both binaries' `main.swift` bind
/// them (no Foundation: start-up time matters).
public enum LiveProcess {
    public static func environment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                out[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return out
    }

    /// stdin is read only for a real verb: the "about" output (no CNI_COMMAND) must not wait on a terminal.
    public static func needsStdin() -> Bool {
        guard let c = getenv("CNI_COMMAND") else { return false }
        return c.pointee != 0
    }

    public static let monotonicNanos: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static let wallClock: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static let random: @Sendable () -> UInt64 = {
        UInt64.random(in: .min ... .max)  // SystemRandomNumberGenerator: getrandom(2)
    }

    /// Reads stdin to its end (at most 64 MiB) and drops it: the writer never sees EPIPE.
    public static func discardStdin() {
        withUnsafeTemporaryAllocation(byteCount: 16384, alignment: 8) { buf in
            var total = 0
            while total < 64 << 20 {
                let n = read(0, buf.baseAddress, buf.count)
                if n > 0 { total += n } else if n == 0 || errno != EINTR { return }
            }
        }
    }

    public static func write(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 { if errno == EINTR { continue } else { return } }
            off += n
        }
    }

    public static func write(_ fd: Int32, _ s: String) {
        guard !s.isEmpty else { return }
        Array(s.utf8).withUnsafeBufferPointer { write(fd, $0) }
    }

    /// stdin to its end, at most 64 MiB.
    public static func readStdin() -> [UInt8] {
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(0, &buf, buf.count)
            if n > 0 { bytes.append(contentsOf: buf[0..<n]) } else if n == 0 || errno != EINTR { break }
            if bytes.count > 64 << 20 { break }
        }
        return bytes
    }
}
