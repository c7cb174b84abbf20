#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import NetTypes
import NodeState
import Platform

/// What one reconcile pass found and did.
public struct ReconcileReport: Sendable, Equatable, CustomStringConvertible {
    /// ENIs of this instance that eni-multus uses.
    public var enis = 0
    /// Addresses and prefixes on those ENIs that a record of this node owns.
    public var assigned = 0
    /// Addresses and prefixes on those ENIs that no record owns (this pass).
    public var leaked = 0
    /// Unowned ones unassigned by this pass (seen unowned for the grace period).
    public var released = 0
    /// Queued releases completed by this pass, and those still queued.
    public var drained = 0
    public var queued = 0
    /// Temporary files older than ten minutes removed (left by a killed writer or a power cut).
    public var temporariesRemoved = 0
    public var errors: [String] = []

    public var description: String {
        "enis=\(enis) assigned=\(assigned) leaked=\(leaked) released=\(released) drained=\(drained) queued=\(queued) errors=\(errors.count)"
            + (errors.isEmpty ? "" : " first error: \(errors[0])")
    }
}

/// The node-local reconcile: compares what sits on the ENIs eni-multus uses with what this node's records own
/// (every network's EC2 ledger and release queue and held prefixes under `dataDir`), unassigns what nobody owns
/// once it has been seen unowned for `graceSeconds` (an ADD between its EC2 call and its record is never that
/// slow), and drains every release queue that is due. No Kubernetes API is involved.
///
/// "The ENIs eni-multus uses" are the ENIs of this instance named by a record or verified by a network's ENI
/// selection (`.eni/`): addresses on those ENIs belong to eni-multus (docs/ec2.md: do not share them with other
/// address managers). First sightings are kept in `<dataDir>/.reconcile-seen`.
public struct Reconciler {
    public let dataDir: String
    public let gateway: EC2Gateway
    public let now: Int64
    public let graceSeconds: Int

    public init(dataDir: String, gateway: EC2Gateway, now: Int64, graceSeconds: Int) {
        self.dataDir = dataDir; self.gateway = gateway; self.now = now; self.graceSeconds = graceSeconds
    }

    var seenPath: String { NodeStateLayout(dataDir: dataDir).reconcileSightings }

    public func run() throws -> ReconcileReport {
        var report = ReconcileReport()
        var owned = Set<IPAddress>()
        var ownedPrefixes = Set<IPPrefix>()
        var named = Set(NodeRecords(dataDir: dataDir).verifiedENIs.all())
        var ledgers: [RegistrationStore] = []
        let networks = try FileIO.list(dataDir)
        for net in networks {
            let ledger = RegistrationStore(NodeStateLayout(dataDir: dataDir).network(net))
            guard FileIO.exists(ledger.root) else { continue }
            ledgers.append(ledger)
            for dir in [ledger.ledgerDir, ledger.queueDir, ledger.warmDir] {
                for name in try FileIO.list(dir) {
                    guard let e = try FileIO.read("\(dir)/\(name)").flatMap(RegistrationEntry.init) else { continue }
                    owned.formUnion(e.addresses)
                    named.insert(e.eni)
                }
            }
            for h in HeldPrefix.decode(try FileIO.read(ledger.state.prefixes) ?? []) {
                ownedPrefixes.insert(h.prefix)
                named.insert(h.eni)
            }
        }

        let attached = try gateway.instanceENIs()
        let cache = NodeRecords(dataDir: dataDir).verifiedENIs
        for id in cache.all() where !attached.contains(where: { $0.id == id }) { cache.forget(id) }
        let locals = attached.filter { named.contains($0.id) && $0.deviceIndex != 0 }
        report.enis = locals.count
        let seen = try loadSeen()
        var stillSeen: [String: Int64] = [:]
        if !locals.isEmpty {
            for eni in try gateway.describe(ids: locals.map(\.id)) {
                // A warm-pool record of an address EC2 no longer shows on the ENI (past the grace: not a refill
                // still landing) is dropped, so no ADD waits on it.
                let present = Set(eni.ipv4 + eni.ipv6)
                for ledger in ledgers {
                    try ledger.locked {
                        for w in try ledger.warm(eni: eni.id) where !present.contains(w.address) {
                            let since = seen["\(eni.id)/warm \(w.address)"] ?? now
                            if now - since >= Int64(graceSeconds) { try FileIO.remove(w.path, .durable) } else { stillSeen["\(eni.id)/warm \(w.address)"] = since }
                        }
                    }
                }
                var orphanAddresses: [IPAddress] = []
                var orphanPrefixes: [IPPrefix] = []
                for a in eni.ipv4 + eni.ipv6 {
                    if owned.contains(a) { report.assigned += 1 } else { orphanAddresses.append(a) }
                }
                for p in eni.prefixes {
                    if ownedPrefixes.contains(p) { report.assigned += 1 } else { orphanPrefixes.append(p) }
                }
                report.leaked += orphanAddresses.count + orphanPrefixes.count
                func due(_ k: String) -> Bool {
                    let since = seen[k] ?? now
                    if now - since >= Int64(graceSeconds) { return true }
                    stillSeen[k] = since
                    return false
                }
                let addrs = orphanAddresses.filter { due("\(eni.id) \($0)") }
                let prefixes = orphanPrefixes.filter { due("\(eni.id) \($0)") }
                do {
                    try gateway.unassign(addrs, from: eni.id)
                    if !prefixes.isEmpty { try gateway.unassign(prefixes: prefixes, from: eni.id) }
                    report.released += addrs.count + prefixes.count
                } catch {
                    report.errors.append("unassigning unowned \((addrs.map(\.description) + prefixes.map(\.description)).joined(separator: ", ")) from \(eni.id): \(error)")
                    for a in addrs { stillSeen["\(eni.id) \(a)"] = seen["\(eni.id) \(a)"] ?? now }
                    for p in prefixes { stillSeen["\(eni.id) \(p)"] = seen["\(eni.id) \(p)"] ?? now }
                }
            }
        }
        try saveSeen(stillSeen)
        // Temporary files a killed writer or a power cut left before their rename, in every state directory.
        let layout = NodeStateLayout(dataDir: dataDir)
        var dirs = [dataDir, layout.verifiedENIs]
        for net in networks {
            let s = layout.network(net)
            dirs += [s.root, s.attachments, s.cooling, s.links, s.ec2, s.ledger, s.queue, s.warm]
        }
        for d in dirs { report.temporariesRemoved += FileIO.removeStaleTemporaries(in: d, olderThan: 600, now: now) }
        for ledger in ledgers {
            do { report.drained += try ledger.drain(limit: 256, now: now, gateway: gateway) } catch {
                report.errors.append("draining \(ledger.queueDir): \(error)")
            }
            report.queued += (try? ledger.queued().count) ?? 0
        }
        return report
    }

    func loadSeen() throws -> [String: Int64] {
        try FileIO.read(seenPath).map(ReconcileSightings.decode) ?? [:]
    }

    func saveSeen(_ seen: [String: Int64]) throws {
        try FileIO.makeDirectories(dataDir)
        try FileIO.writeAtomically(seenPath, ReconcileSightings.encode(seen), .hint)
    }
}

/// The node's entry point: one reconcile pass over `dataDir` with the gateway the caller opens (the node binary:
/// the live AWS layer).
public enum NodeReconcile {
    public static func run(dataDir: String, graceSeconds: Int, now: Int64,
                           gateway: () throws -> any EC2Gateway) -> ReconcileReport {
        do {
            let reg = try gateway()
            return try Reconciler(dataDir: dataDir, gateway: reg, now: now, graceSeconds: graceSeconds).run()
        } catch {
            var r = ReconcileReport()
            r.errors.append("\(error)")
            return r
        }
    }
}
