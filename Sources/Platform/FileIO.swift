#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file-system call that failed: the operation, the path, `errno` (or why the content was refused).
public enum FileError: Error, Sendable, CustomStringConvertible, Equatable {
    case io(operation: String, path: String, errno: Int32)
    /// A state file larger than its reader accepts.
    case tooLarge(path: String, limit: Int)

    public var description: String {
        switch self {
        case .io(let op, let path, let e): return "\(op) \(path): \(String(cString: strerror(e)))"
        case .tooLarge(let p, let limit): return "state file \(p): larger than \(limit) bytes"
        }
    }
}

/// What a state file must survive: the fsync policy of every state file of the plugin and the node agent
/// (docs/state-format.md, "Durability").
///
/// - `durable`: ownership records — an attachment's record and address files, the EC2 ledger, the release queue,
///   the warm pool, the prefix record. A write is on disk before the call returns: the file is fsync'ed before it
///   is renamed into place (or, created in place, before the call returns) and its directory is fsync'ed after;
///   a durable removal fsyncs the directory after the unlink. Callers write them before EC2 is asked to act on
///   them and before the verb returns, so after a power cut every address EC2 holds for us, and every attachment
///   a runtime was told about, still has its record.
/// - `hint`: caches and preferences that a power cut may take back to an older content, leave empty or remove:
///   the round-robin cursor, cooldown marks, the verified-ENI and instance-limit caches, reconcile's first-seen
///   times, a moved device's name. Written atomically against a killed process, never synced; every reader
///   treats an empty or unreadable one as absent.
public enum Durability: Sendable {
    case durable
    case hint
}

/// The POSIX file helpers of both binaries: atomic replace, exclusive create, removal, directory listing, each with
/// the stated `Durability`.
public enum FileIO {
    @inline(__always) static func retry<T: BinaryInteger>(_ body: () -> T) -> T {
        while true {
            let r = body()
            if r >= 0 || errno != EINTR { return r }
        }
    }

    /// `mkdir -p` with mode 0700 for every directory created; the parent of each directory it creates is
    /// fsync'ed (only the first use of a store pays it), so a durable record is never written into a directory
    /// that a power cut can take away. The deepest directory is tried first: one `mkdir` when it exists.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(FileError) {
        if mkdir(path, mode) == 0 { return try syncDirectory(directory(of: path)) }
        if errno == EEXIST { return }
        guard errno == ENOENT else { throw .io(operation: "mkdir", path: path, errno: errno) }
        let parent = directory(of: path)
        guard parent != path, parent != "/", parent != "." else { throw .io(operation: "mkdir", path: path, errno: ENOENT) }
        try makeDirectories(parent, mode: mode)
        if mkdir(path, mode) == 0 { return try syncDirectory(parent) }
        if errno != EEXIST { throw .io(operation: "mkdir", path: path, errno: errno) }
    }

    /// The contents of a file that must exist.
    public static func contents(_ path: String, limit: Int = 1 << 20) throws(FileError) -> [UInt8] {
        guard let b = try read(path, limit: limit) else { throw .io(operation: "open", path: path, errno: ENOENT) }
        return b
    }

    /// The contents of a state file (a regular file: a short read is its end), nil when it does not exist.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(FileError) -> [UInt8]? {
        let fd = retry { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io(operation: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { p in retry { Glibc.read(fd, p.baseAddress, p.count) } }
            if n < 0 { throw .io(operation: "read", path: path, errno: errno) }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw .tooLarge(path: path, limit: limit) }
            if n < buf.count { break }
        }
        return out
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in retry { write(fd, p.baseAddress! + off, p.count - off) } }
            if n < 0 { throw .io(operation: "write", path: path, errno: errno) }
            off += n
        }
    }

    /// fsyncs the directory `dir` (a name created, renamed or removed in it is then on disk).
    public static func syncDirectory(_ dir: String) throws(FileError) {
        let fd = retry { open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if fd < 0 { throw .io(operation: "open directory", path: dir, errno: errno) }
        defer { close(fd) }
        if retry({ fsync(fd) }) != 0 { throw .io(operation: "fsync", path: dir, errno: errno) }
    }

    /// The last component of `path`.
    public static func baseName(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// This process's id, read once (it names temporary files; nothing here forks without exec).
    static let pid = getpid()

    /// Whether `name` is a temporary file of `writeAtomically` (".<name>.tmp.<pid>[-<random>]").
    public static func isTemporaryName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard name.hasPrefix("."), parts.count >= 4, parts[parts.count - 2] == "tmp", let last = parts.last else { return false }
        return !last.isEmpty && last.allSatisfy { $0 == "-" || ("0"..."9").contains($0) }
    }

    /// Replaces `path` atomically: write a temporary file in the same directory, then rename over `path`.
    /// A reader (or a process killed half-way) sees the old content or the new, never a mix. `.durable`: the
    /// temporary file is fsync'ed before the rename and the directory after it. `unlocked`: writers of `path` are
    /// not serialised by a lock (the node binary's install into the host, where two containers' processes may even
    /// share a pid): the temporary name also gets a random part and is created exclusively.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], _ durability: Durability,
                                       mode: mode_t = 0o600, unlocked: Bool = false) throws(FileError) {
        // The temporary name starts with "." so it can never be a record or address name (neither a container
        // id nor an address starts with "."); `list` skips such names and GC removes leftovers.
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        var tmp = String(path[..<slash]) + "." + String(path[slash...]) + ".tmp.\(pid)"
        if unlocked { tmp += "-\(UInt32.random(in: 0...UInt32.max))" }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (unlocked ? O_EXCL : O_TRUNC)
        let fd = retry { open(tmp, flags, 0o600) }
        if fd < 0 { throw .io(operation: "create", path: tmp, errno: errno) }
        do throws(FileError) {
            try writeAll(fd, bytes, path: tmp)
            if mode != 0o600 && fchmod(fd, mode) != 0 { throw .io(operation: "chmod", path: tmp, errno: errno) }
            if durability == .durable && retry({ fsync(fd) }) != 0 { throw .io(operation: "fsync", path: tmp, errno: errno) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw .io(operation: "rename", path: path, errno: e)
        }
        if durability == .durable { try syncDirectory(directory(of: path)) }
    }

    /// Creates `path` exclusively with `bytes`. Returns false if it already exists. `.durable`: the file is
    /// fsync'ed, then its directory. (A power cut before that can leave the name with no content: readers treat
    /// such a file as held by nobody they know, see RangeAllocator.)
    public static func createExclusive(_ path: String, _ bytes: [UInt8], _ durability: Durability) throws(FileError) -> Bool {
        let fd = retry { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        if fd < 0 {
            if errno == EEXIST { return false }
            throw .io(operation: "create", path: path, errno: errno)
        }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        if durability == .durable {
            if retry({ fsync(fd) }) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
            try syncDirectory(directory(of: path))
        }
        return true
    }

    /// Removes the temporary files of `writeAtomically` in `dir` last modified more than `age` seconds before `now`
    /// (wall clock): what a writer killed, or a power cut, left before its rename. Old enough that no writer is
    /// still between its create and its rename. Returns how many went.
    @discardableResult
    public static func removeStaleTemporaries(in dir: String, olderThan age: Int64, now: Int64) -> Int {
        var n = 0
        for name in (try? list(dir, includeHidden: true)) ?? [] where isTemporaryName(name) {
            var st = stat()
            guard lstat(dir + "/" + name, &st) == 0, now - Int64(st.st_mtim.tv_sec) > age else { continue }
            if unlink(dir + "/" + name) == 0 { n += 1 }
        }
        return n
    }

    /// The permission bits of `path` (following symlinks), nil when it does not exist.
    public static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Removes a file; a missing file is not an error. `.durable`: the directory is fsync'ed after the unlink
    /// (a removal that hands an address to another owner must not come back after a power cut).
    /// Returns whether something was removed.
    @discardableResult
    public static func remove(_ path: String, _ durability: Durability) throws(FileError) -> Bool {
        if unlink(path) != 0 {
            if errno == ENOENT { return false }
            throw .io(operation: "unlink", path: path, errno: errno)
        }
        if durability == .durable { try syncDirectory(directory(of: path)) }
        return true
    }

    /// Names in a directory, without hidden names (`.`, `..`, and the `.`-prefixed temporary files of
    /// `writeAtomically`); a missing directory lists as empty.
    public static func list(_ path: String, includeHidden: Bool = false) throws(FileError) -> [String] {
        guard let d = opendir(path) else {
            if errno == ENOENT { return [] }
            throw .io(operation: "opendir", path: path, errno: errno)
        }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." || (!includeHidden && name.hasPrefix(".")) { continue }
            out.append(name)
        }
        return out
    }
}

/// An exclusive `flock` on a lock file, held until deinit. `~Copyable`: exactly one owner closes it.
public struct DirectoryLock: ~Copyable {
    let fd: Int32

    public init(path: String) throws(FileError) {
        let f = FileIO.retry { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        if f < 0 { throw .io(operation: "open lock", path: path, errno: errno) }
        if FileIO.retry({ flock(f, LOCK_EX) }) != 0 {
            let e = errno
            close(f)
            throw .io(operation: "flock", path: path, errno: e)
        }
        fd = f
    }

    /// Marks a use, so the lock provably lives until a `defer { lock.hold() }` runs.
    public borrowing func hold() {}

    deinit { close(fd) }
}
