import Glibc

/// Small file helpers: atomic replace (temp file in the same directory, fsync, rename, fsync the directory).
public enum Files {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func read(_ path: String, limit: Int = 256 << 20) throws(NodeError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("open \(path): \(errnoText())") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .io("read \(path): \(errnoText())") }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw .io("\(path) is larger than \(limit) bytes") }
        }
        return out
    }

    public static func readText(_ path: String) throws(NodeError) -> String {
        String(decoding: try read(path, limit: 1 << 20), as: UTF8.self)
    }

    /// `mkdir -p` with `mode` for the directories it creates.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(NodeError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST { throw .io("mkdir \(current): \(errnoText())") }
        }
    }

    /// Replaces `path` atomically with `bytes` (mode `mode`): readers see the old or the new file, never a part.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(NodeError) {
        let (dir, base) = split(path)
        let tmp = "\(dir)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io("create \(tmp): \(errnoText())") }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
                if n < 0 { if errno == EINTR { continue }; throw NodeError.io("write \(tmp): \(errnoText())") }
                off += n
            }
            guard fchmod(fd, mode) == 0 else { throw NodeError.io("chmod \(tmp): \(errnoText())") }
            guard fsync(fd) == 0 else { throw NodeError.io("fsync \(tmp): \(errnoText())") }
        }
        guard rename(tmp, path) == 0 else { throw .io("rename \(tmp) to \(path): \(errnoText())") }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Removes `path`; a missing file is fine. Returns whether something was removed.
    @discardableResult
    public static func remove(_ path: String) throws(NodeError) -> Bool {
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw .io("remove \(path): \(errnoText())")
    }

    public static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    public static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
