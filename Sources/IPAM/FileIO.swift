#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Errors of the IPAM module: the store on disk, allocation, and delegated IPAM plugins.
public enum IPAMError: Error, Sendable, CustomStringConvertible {
    /// A file-system call failed (`errno`, the operation and the path).
    case io(operation: String, path: String, errno: Int32)
    /// No free address left in a range set.
    case exhausted(rangeSet: Int, ranges: String)
    /// A requested address is held by another attachment (or is the gateway / network address).
    case requestedUnavailable(address: String, reason: String)
    /// A requested address is in no configured range set.
    case requestedOutOfRange(address: String)
    /// A requested address that no attachment can ever get (gateway, network, broadcast, wrong prefix length).
    case requestedInvalid(address: String, reason: String)
    /// Two requested addresses fall in the same range set.
    case requestedTwice(rangeSet: Int, addresses: String)
    /// The attachment already holds addresses in this network.
    case duplicateAllocation(containerID: String, ifname: String, addresses: String)
    /// CHECK found the reservation missing or different.
    case checkFailed(String)
    /// A state file holds something that is not ours.
    case corruptState(path: String, reason: String)
    /// The delegated IPAM plugin answered with a CNI error.
    case delegateFailed(plugin: String, code: Int, msg: String, details: String)
    /// The delegated IPAM plugin could not be found or run, or printed something that is not a result.
    case delegateUnusable(plugin: String, reason: String)

    public var description: String {
        switch self {
        case .io(let op, let path, let e): return "\(op) \(path): \(String(cString: strerror(e)))"
        case .exhausted(let i, let r): return "no IP addresses available in range set \(i) (\(r))"
        case .requestedUnavailable(let a, let why): return "requested IP address \(a) is not available: \(why)"
        case .requestedOutOfRange(let a): return "requested IP address \(a) is in no configured range"
        case .requestedInvalid(let a, let why): return "requested IP address \(a) cannot be assigned: \(why)"
        case .requestedTwice(let i, let a): return "requested IP addresses \(a) fall in the same range set \(i); one per range set"
        case .duplicateAllocation(let c, let i, let a):
            return "container \(c) interface \(i) already holds \(a) in this network; DEL it first"
        case .checkFailed(let s): return s
        case .corruptState(let p, let r): return "state file \(p): \(r)"
        case .delegateFailed(let p, _, let m, _): return "IPAM plugin \(p): \(m)"
        case .delegateUnusable(let p, let r): return "IPAM plugin \(p): \(r)"
        }
    }
}

/// What a state file must survive: the fsync policy of every store (docs/state-format.md, "Durability").
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

/// Small POSIX file helpers used by the stores: atomic replace, exclusive create, directory listing, each with
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
    public static func makeDirectories(_ path: String) throws(IPAMError) {
        if mkdir(path, 0o700) == 0 { return try syncDirectory(directory(of: path)) }
        if errno == EEXIST { return }
        guard errno == ENOENT else { throw .io(operation: "mkdir", path: path, errno: errno) }
        let parent = directory(of: path)
        guard parent != path, parent != "/", parent != "." else { throw .io(operation: "mkdir", path: path, errno: ENOENT) }
        try makeDirectories(parent)
        if mkdir(path, 0o700) == 0 { return try syncDirectory(parent) }
        if errno != EEXIST { throw .io(operation: "mkdir", path: path, errno: errno) }
    }

    /// The contents of a state file (a regular file: a short read is its end), nil when it does not exist.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(IPAMError) -> [UInt8]? {
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
            if out.count > limit { throw .corruptState(path: path, reason: "larger than \(limit) bytes") }
            if n < buf.count { break }
        }
        return out
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(IPAMError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in retry { write(fd, p.baseAddress! + off, p.count - off) } }
            if n < 0 { throw .io(operation: "write", path: path, errno: errno) }
            off += n
        }
    }

    /// fsyncs the directory `dir` (a name created, renamed or removed in it is then on disk).
    public static func syncDirectory(_ dir: String) throws(IPAMError) {
        let fd = retry { open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if fd < 0 { throw .io(operation: "open directory", path: dir, errno: errno) }
        defer { close(fd) }
        if retry({ fsync(fd) }) != 0 { throw .io(operation: "fsync", path: dir, errno: errno) }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// This process's id, read once (it names temporary files; nothing here forks without exec).
    static let pid = getpid()

    /// Whether `name` is a temporary file of `writeAtomically` (".<name>.tmp.<pid>").
    public static func isTemporaryName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return name.hasPrefix(".") && parts.count >= 4 && parts[parts.count - 2] == "tmp" && Int(parts[parts.count - 1]) != nil
    }

    /// Replaces `path` atomically: write a temporary file in the same directory, then rename over `path`.
    /// A reader (or a process killed half-way) sees the old content or the new, never a mix. `.durable`: the
    /// temporary file is fsync'ed before the rename and the directory after it.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], _ durability: Durability) throws(IPAMError) {
        // The temporary name starts with "." so it can never be a record or address name (neither a container
        // id nor an address starts with "."); `list` skips such names and GC removes leftovers.
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let tmp = String(path[..<slash]) + "." + String(path[slash...]) + ".tmp.\(pid)"
        let fd = retry { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        if fd < 0 { throw .io(operation: "create", path: tmp, errno: errno) }
        do throws(IPAMError) {
            try writeAll(fd, bytes, path: tmp)
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
    public static func createExclusive(_ path: String, _ bytes: [UInt8], _ durability: Durability) throws(IPAMError) -> Bool {
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

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Removes a file; a missing file is not an error. `.durable`: the directory is fsync'ed after the unlink
    /// (a removal that hands an address to another owner must not come back after a power cut).
    public static func remove(_ path: String, _ durability: Durability) throws(IPAMError) {
        if unlink(path) != 0 {
            if errno == ENOENT { return }
            throw .io(operation: "unlink", path: path, errno: errno)
        }
        if durability == .durable { try syncDirectory(directory(of: path)) }
    }

    /// Names in a directory, without hidden names (`.`, `..`, and the `.`-prefixed temporary files of
    /// `writeAtomically`); a missing directory lists as empty.
    public static func list(_ path: String, includeHidden: Bool = false) throws(IPAMError) -> [String] {
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

/// An exclusive `flock` on a network's lock file, held until deinit. `~Copyable`: exactly one owner closes it.
public struct DirectoryLock: ~Copyable {
    let fd: Int32

    public init(path: String) throws(IPAMError) {
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
