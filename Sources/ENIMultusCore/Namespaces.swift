#if canImport(Glibc)
import Glibc
#endif
import Netlink

/// The node's network namespace (the one the plugin was started in) and an rtnetlink socket opened there.
final class HostNamespace {
    let ns: NetNS
    let sock: RouteSocket

    init() throws {
        ns = try NetNS.current()
        sock = try RouteSocket()
    }

    /// Interfaces that carry a default route (IPv4 or IPv6, main table): the node's primary interface(s).
    func primaryIndices() throws -> Set<Int32> {
        Set(try sock.routes().filter { $0.destination.length == 0 }.compactMap(\.outputIndex))
    }
}

/// The pod's network namespace (`CNI_NETNS`) and a socket opened inside it.
final class PodNamespace {
    let path: String
    let ns: NetNS
    let sock: RouteSocket

    init(path: String) throws(CoreError) {
        self.path = path
        do {
            ns = try NetNS(path: path)
        } catch {
            throw CoreError.badNetns(path: path, reason: error.errno == ENOENT ? "no such file" : error.description)
        }
        do {
            sock = try RouteSocket(in: ns)
        } catch {
            throw CoreError.link(step: "open netlink socket in \(path)", error)
        }
    }

    /// Opens the namespace if it still exists; nil when it is gone (DEL after the runtime removed it).
    static func ifPresent(_ path: String) -> PodNamespace? {
        guard !path.isEmpty else { return nil }
        return try? PodNamespace(path: path)
    }
}

extension CoreError {
    static func step(_ what: String, _ body: () throws -> Void) throws {
        do { try body() } catch let e as NetlinkError { throw CoreError.link(step: what, e) }
    }

    static func step<R>(_ what: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as NetlinkError { throw CoreError.link(step: what, e) }
    }
}
