import CNI
import IPAM
import JSON
import NetTypes

/// Which IPAM serves this network: none, the built-in `eni-multus` ranges, or another plugin from CNI_PATH.
enum AddressManager {
    case none
    case builtin(RangeAllocator)
    case delegated(DelegatedIPAM)

    static let builtinType = "eni-multus"

    init(conf: NetConf, cni: CNIEnvironment, defaultDataDir: String, wallClock: @escaping @Sendable () -> Double) throws {
        guard let ipam = conf.ipam, let type = conf.ipamType else {
            self = .none
            return
        }
        if type == Self.builtinType {
            self = .builtin(RangeAllocator(config: try IPAMConfig(ipam, defaultDataDir: defaultDataDir), network: conf.name,
                                           now: { Int64(wallClock()) }))
        } else {
            self = .delegated(try DelegatedIPAM(type: type, searchPath: cni.path))
        }
    }

    var dataDir: String? {
        if case .builtin(let a) = self { return a.config.dataDir }
        return nil
    }

    /// ADD: addresses, routes and DNS for the interface at result index `interface`.
    func add(_ inv: Invocation, interface: Int) throws -> CNIResult {
        switch self {
        case .none:
            return CNIResult()
        case .builtin(let a):
            let ips = try a.allocate(inv.key, requested: inv.conf.requestedIPs(cniArgs: inv.cni.args))
            return CNIResult(ips: ips.map { var c = $0; c.interface = interface; return c }, routes: a.config.routes)
        case .delegated(let d):
            var r = try d.add(env: inv.env.variables, stdin: inv.env.stdin)
            r.interfaces = []
            r.ips = r.ips.map { var c = $0; c.interface = interface; return c }
            return r
        }
    }

    func del(_ inv: Invocation) throws {
        switch self {
        case .none: return
        case .builtin(let a): try a.release(inv.key)
        case .delegated(let d): _ = try d.run(.del, env: inv.env.variables, stdin: inv.env.stdin)
        }
    }

    func check(_ inv: Invocation, prev: CNIResult) throws {
        switch self {
        case .none: return
        case .builtin(let a): try a.check(inv.key, expected: prev.ips.map(\.address.address))
        case .delegated(let d): _ = try d.run(.check, env: inv.env.variables, stdin: inv.env.stdin)
        }
    }

    /// GC: returns the errors met (GC keeps going).
    func gc(_ inv: Invocation, valid: Set<AttachmentKey>) -> [any Error] {
        switch self {
        case .none: return []
        case .builtin(let a): return a.collectGarbage(valid: valid)
        case .delegated(let d):
            do { _ = try d.run(.gc, env: inv.env.variables, stdin: inv.env.stdin) } catch { return [error] }
            return []
        }
    }

    /// STATUS: nil when ADD can be served.
    func unavailability(_ inv: Invocation) throws -> String? {
        switch self {
        case .none: return nil
        case .builtin(let a): return try a.exhaustion()
        case .delegated(let d):
            do {
                _ = try d.run(.status, env: inv.env.variables, stdin: inv.env.stdin)
            } catch {
                if case .delegateFailed(_, let code, let msg, _) = error, code == 50 || code == 51 {
                    return "IPAM plugin \(d.type): \(msg)"
                }
                throw error
            }
            return nil
        }
    }
}
