import CLibmnl
import Glibc

/// An owned network-namespace file descriptor. `deinit` closes it; an anonymous namespace dies when
/// its last descriptor closes and no process or thread is inside it.
///
/// `setns(2)` moves only the calling thread. Everything here is synchronous and switches back before
/// returning, so a caller must not suspend (`await`) inside `run`.
public struct NetNS: ~Copyable {
    public let fd: Int32

    /// Opens `path` (`/proc/<pid>/ns/net`, `/run/netns/<name>`, a CNI `CNI_NETNS`) read-only and
    /// checks it is a network namespace file: its filesystem must be nsfs (`NSFS_MAGIC`) or, on kernels
    /// before 3.19, proc (`PROC_SUPER_MAGIC`), and `NS_GET_NSTYPE` must say `CLONE_NEWNET`.
    public init(path: String) throws(NetlinkError) {
        let fd = try syscallRetrying("open network namespace \"\(path)\"") {
            open(path, O_RDONLY | O_CLOEXEC)
        }
        var fs = statfs()
        if fstatfs(fd, &fs) != 0 {
            let code = Glibc.errno
            close(fd)
            throw NetlinkError(errno: code, operation: "fstatfs network namespace \"\(path)\"")
        }
        let magic = UInt(bitPattern: Int(fs.f_type))
        // proc counts only on a kernel without nsfs (before 3.19); elsewhere it is /proc/self/status and the like.
        if magic != UInt(NSFS_MAGIC) && (magic != UInt(PROC_SUPER_MAGIC) || Self.kernelHasNSFS) {
            close(fd)
            throw NetlinkError(errno: EINVAL, operation: "\"\(path)\" is not a network namespace")
        }
        // nsfs holds every kind of namespace (/proc/self/ns/pid, …): ask the kernel which one this is. Kernels
        // before 4.11 do not know the ioctl; `setns` refuses the wrong kind there.
        let type = cmnl_ns_type(fd)
        if type >= 0 && type != CMNL_CLONE_NEWNET {
            close(fd)
            throw NetlinkError(errno: EINVAL, operation: "\"\(path)\" is not a network namespace")
        }
        self.fd = fd
    }

    /// Whether this kernel keeps namespace files on nsfs (3.19 and later).
    static let kernelHasNSFS: Bool = {
        var fs = statfs()
        return statfs("/proc/self/ns/net", &fs) == 0 && UInt(bitPattern: Int(fs.f_type)) == UInt(NSFS_MAGIC)
    }()

    /// Takes ownership of an already open namespace descriptor.
    public init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// The calling thread's current network namespace (`/proc/thread-self/ns/net`).
    public static func current() throws(NetlinkError) -> NetNS {
        try NetNS(path: "/proc/thread-self/ns/net")
    }

    /// A new anonymous network namespace: `unshare(CLONE_NEWNET)` on the calling thread, keep the new
    /// namespace's descriptor, `setns` back. It has only `lo` (down) and dies with its last descriptor.
    public static func createAnonymous() throws(NetlinkError) -> NetNS {
        let original = try NetNS.current()
        if cmnl_unshare_net() != 0 {
            throw NetlinkError(errno: Glibc.errno, operation: "unshare(CLONE_NEWNET)")
        }
        let created: NetNS
        do {
            created = try NetNS.current()
        } catch {
            original.switchBackOrDie()
            throw error
        }
        original.switchBackOrDie()
        return created
    }

    /// `setns` the calling thread into this namespace, run `body`, and `setns` back to the namespace
    /// the thread was in. Errors from `body` propagate after switching back. If switching back fails
    /// the process stops (`fatalError`): the thread would otherwise keep running in the wrong namespace.
    ///
    /// Sockets opened inside `body` stay bound to this namespace after `run` returns; files under
    /// `/proc/sys/net` opened inside it show this namespace's values.
    public func run<R>(_ body: () throws -> R) throws -> R {
        let original = try NetNS.current()
        if cmnl_setns_net(fd) != 0 {
            throw NetlinkError(errno: Glibc.errno, operation: "setns into network namespace (fd \(fd))")
        }
        defer { original.switchBackOrDie() }
        return try body()
    }

    /// Same namespace when the descriptors' `st_dev`/`st_ino` match.
    public func isSame(as other: borrowing NetNS) -> Bool {
        var a = stat(), b = stat()
        guard fstat(fd, &a) == 0, fstat(other.fd, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// The namespace inode (`st_ino`), what `ip netns identify` and `/proc/<pid>/ns/net` links show.
    public var inode: UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return 0 }
        return UInt64(st.st_ino)
    }

    func switchBackOrDie() {
        if cmnl_setns_net(fd) != 0 {
            let code = Glibc.errno
            fatalError("cannot setns back to the original network namespace: \(NetlinkError.message(for: code))")
        }
    }
}
