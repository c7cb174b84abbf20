import Platform
import CNI
import IPAM
import JSON
import NetTypes
import NodeState
import ENIAddressing

/// Which IPAM serves this network: none, the built-in `eni-multus` ranges, or another plugin from CNI_PATH.
enum AddressManager {
    case none
    case ranges(RangeAllocator)
    case ec2(EC2ModeIPAM)
    case prefix(PrefixPool)
    case delegated(DelegatedIPAM)

    static let builtinType = NetConf.pluginType

    init(conf: NetConf, cni: CNIEnvironment, defaultDataDir: String, wallClock: @escaping @Sendable () -> Double,
         failpoint: @escaping @Sendable (String) -> Void = { _ in }) throws {
        guard let ipam = conf.ipam, let type = conf.ipamType else {
            self = .none
            return
        }
        if type == Self.builtinType {
            let config = try IPAMConfig(ipam, defaultDataDir: defaultDataDir)
            let now: @Sendable () -> Int64 = { Int64(wallClock()) }
            if config.mode != .ranges, conf.raw["eni"] == nil { throw RegistrationError.needsENI(mode: config.mode.rawValue) }
            switch config.mode {
            case .ranges: self = .ranges(RangeAllocator(config: config, network: conf.name, now: now, failpoint: failpoint))
            case .ec2: self = .ec2(EC2ModeIPAM(config: config, network: conf.name))
            case .prefix: self = .prefix(PrefixPool(config: config, network: conf.name, now: now, failpoint: failpoint))
            }
        } else {
            self = .delegated(try DelegatedIPAM(type: type, searchPath: cni.path))
        }
    }

    /// The built-in IPAM's configuration (nil for none and delegated); the properties below derive from it.
    var builtinConfig: IPAMConfig? {
        switch self {
        case .ranges(let a): return a.config
        case .ec2(let m): return m.config
        case .prefix(let p): return p.config
        case .none, .delegated: return nil
        }
    }

    var dataDir: String? { builtinConfig?.dataDir }

    /// The built-in mode, if any.
    var mode: IPAMConfig.Mode? { builtinConfig?.mode }

    /// Modes whose addresses EC2 routes to the ENI already (nothing to register per address).
    var isEC2Native: Bool { mode == .ec2 || mode == .prefix }

    /// The release cooldown of the built-in modes (0 elsewhere).
    var cooldownSeconds: Int { builtinConfig?.cooldownSeconds ?? 0 }

    /// Cooldown that DEL and GC apply by deferring the EC2 release (mode ec2: EC2 chose the address, so only keeping
    /// it assigned stops EC2 handing it out again); 0 elsewhere.
    var deferredReleaseSeconds: Int { mode == .ec2 ? cooldownSeconds : 0 }

    /// Mode ec2's warm pool: addresses per family a drain keeps on the ENI instead of unassigning (0 elsewhere).
    var keepWarm: Int { mode == .ec2 ? builtinConfig?.warmAddresses ?? 0 : 0 }

    /// Mode ec2 with a warm pool: the IPAM that decides how many of a released attachment's addresses stay warm.
    var warmPool: EC2ModeIPAM? {
        if case .ec2(let m) = self, m.poolEnabled { return m }
        return nil
    }

    /// ADD: addresses, routes and DNS for the interface at result index `interface`.
    func add(_ inv: Invocation, interface: Int?, undo: UndoStack) throws -> CNIResult {
        switch self {
        case .ec2(let m):
            return try m.add(inv, interface: interface, undo: undo)
        case .prefix(let p):
            let r = try p.add(inv, interface: interface)
            undo.push("release addresses") { try p.release(inv, cooldown: .skip) }
            return r
        case .none:
            return CNIResult()
        case .ranges(let a):
            let ips = try a.allocate(inv.key, requested: inv.conf.requestedIPs(cniArgs: inv.cni.args),
                                     reusedCooling: inv.logCoolingReuse(_:until:))
            undo.push("release addresses") { try a.release(inv.key, cooldown: .skip) }
            return CNIResult(ips: ips.map { var c = $0; c.interface = interface; return c }, routes: a.config.routes)
        case .delegated(let d):
            var r = try d.add(env: inv.env.variables, stdin: inv.env.stdin)
            undo.push("release addresses") { try self.del(inv) }
            r.interfaces = []
            r.ips = r.ips.map { var c = $0; c.interface = interface; return c }
            return r
        }
    }

    func del(_ inv: Invocation) throws {
        switch self {
        case .none: return
        case .ranges(let a): try a.release(inv.key)
        case .ec2: return  // the EC2 ledger is its record: released by Invocation.releaseRegistration
        case .prefix(let p): try p.release(inv)
        case .delegated(let d): _ = try d.run(.del, env: inv.env.variables, stdin: inv.env.stdin)
        }
    }

    func check(_ inv: Invocation, prev: CNIResult) throws {
        switch self {
        case .none: return
        case .ranges(let a): try a.check(inv.key, expected: prev.ips.map(\.address.address))
        case .ec2(let m): try m.check(inv, prev: prev)
        case .prefix(let p): try p.check(inv, prev: prev)
        case .delegated(let d): _ = try d.run(.check, env: inv.env.variables, stdin: inv.env.stdin)
        }
    }

    /// GC: returns the errors met (GC keeps going).
    func gc(_ inv: Invocation, valid: Set<AttachmentKey>) -> [any Error] {
        switch self {
        case .none: return []
        case .ranges(let a): return a.collectGarbage(valid: valid)
        case .ec2: return []  // Invocation.gc releases the ledger entries
        case .prefix(let p): return p.gc(inv, valid: valid)
        case .delegated(let d):
            do { _ = try d.run(.gc, env: inv.env.variables, stdin: inv.env.stdin) } catch { return [error] }
            return []
        }
    }

    /// STATUS: nil when ADD can be served.
    func unavailability(_ inv: Invocation) throws -> String? {
        switch self {
        case .none: return nil
        case .ranges(let a): return try a.exhaustion()
        case .ec2(let m): return try m.unavailability(inv)
        case .prefix(let p): return try p.unavailability(inv)
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
