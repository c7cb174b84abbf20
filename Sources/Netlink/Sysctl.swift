import Glibc
import Platform

/// Reads and writes `/proc/sys` keys.
///
/// Keys under `net/` resolve in the network namespace of the thread that *opens* the file, so for a
/// pod namespace call these inside `NetNS.run`. `root` is injectable for tests.
public enum Sysctl {
    /// Writes `value` to `root/key` in one `write(2)`, e.g. `write("net/ipv4/conf/eth0/arp_notify", "1")`.
    public static func write(_ key: String, _ value: String, root: String = "/proc/sys") throws(NetlinkError) {
        let path = try resolve(key, root: root)
        let fd = try syscallRetrying("open sysctl \(key) for writing") { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = try syscallRetrying("write \"\(value)\" to sysctl \(key)") {
            bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress, raw.count) }
        }
        if written != bytes.count {
            throw NetlinkError(errno: EIO, operation: "write \"\(value)\" to sysctl \(key) (short write)")
        }
    }

    /// The value of `root/key` without its trailing newline.
    public static func read(_ key: String, root: String = "/proc/sys") throws(NetlinkError) -> String {
        let path = try resolve(key, root: root)
        let fd = try syscallRetrying("open sysctl \(key)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try syscallRetrying("read sysctl \(key)") {
                chunk.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress, raw.count) }
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        while let last = out.last, last == 10 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    /// `root/key` after checking `key` is relative and stays below `root` (no `..` component, no NUL).
    static func resolve(_ key: String, root: String) throws(NetlinkError) -> String {
        if !PathRules.isRelativeBelow(key) {
            throw NetlinkError(errno: EINVAL, operation: "invalid sysctl key \"\(key)\"")
        }
        return root.hasSuffix("/") ? root + key : root + "/" + key
    }
}
