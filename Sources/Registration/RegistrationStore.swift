#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import NetTypes
import NodeState
import Platform

/// EC2 registration's records of one network, under `<dataDir>/<network>/ec2/`: the ownership ledger, the durable
/// release queue and the warm pool.
///
/// `ledger/<containerID>:<ifname>` records an attachment's ENI and addresses (written before EC2 is asked, so a
/// crash mid-assign is still released by DEL). `queue/<n>` holds releases that EC2 could not take when DEL ran;
/// later invocations drain it a few entries at a time, skipping addresses a live ledger entry holds again.
/// `warm/<address>` holds the `ec2` mode's warm pool: addresses assigned to our ENI and confirmed, owned by no
/// attachment, handed to the next ADD without an EC2 call (`ipam.warmAddresses`, `ipam.minimumAddresses`).
public struct RegistrationStore {
    /// The network whose `ec2/` this is.
    public let state: NetworkState
    public init(_ state: NetworkState) { self.state = state }
    var root: String { state.ec2 }
    public typealias Entry = RegistrationEntry

    public var ledgerDir: String { state.ledger }

    /// Runs `body` under the ledger's flock: recording an entry and draining the queue exclude each other, so a
    /// queued release never takes an address that a new attachment has just recorded.
    public func locked<R>(_ body: () throws -> R) throws -> R {
        try FileIO.makeDirectories(root)
        let lock = try DirectoryLock(path: state.ec2Lock)
        defer { lock.hold() }
        return try body()
    }
    public var queueDir: String { state.queue }
    public var warmDir: String { state.warm }

    /// The warm pool of `eni` (every ENI when nil): one row per address with its file. Under `locked` when it
    /// matters who takes what.
    public func warm(eni: String?) throws -> [(path: String, address: IPAddress, entry: Entry)] {
        var out: [(path: String, address: IPAddress, entry: Entry)] = []
        for name in try FileIO.list(warmDir).sorted() {
            let path = "\(warmDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init), let a = e.addresses.first else { continue }
            if eni == nil || e.eni == eni { out.append((path, a, e)) }
        }
        return out
    }

    /// Puts `addresses` (assigned to `eni`, owned by no attachment) into the warm pool. Under `locked`.
    public func addWarm(_ addresses: [IPAddress], eni: String, mac: MACAddress?) throws {
        guard !addresses.isEmpty else { return }
        try FileIO.makeDirectories(warmDir)
        for a in addresses {
            try FileIO.writeAtomically("\(warmDir)/\(a)", Entry(eni: eni, addresses: [a], mac: mac).bytes, .durable)
        }
    }

    public func record(_ key: AttachmentKey, _ entry: Entry) throws {
        try FileIO.makeDirectories(ledgerDir)
        try FileIO.writeAtomically("\(ledgerDir)/\(key.fileName)", entry.bytes, .durable)
    }

    public func entry(_ key: AttachmentKey) throws -> Entry? {
        try FileIO.read("\(ledgerDir)/\(key.fileName)").flatMap(Entry.init)
    }

    public func forget(_ key: AttachmentKey) throws { try FileIO.remove("\(ledgerDir)/\(key.fileName)", .durable) }

    /// Every address a live attachment holds (scanned only when the queue has work).
    public func liveAddresses(excluding key: AttachmentKey? = nil) throws -> Set<IPAddress> {
        var out = Set<IPAddress>()
        for name in try FileIO.list(ledgerDir) where name != key?.fileName {
            if let e = try FileIO.read("\(ledgerDir)/\(name)").flatMap(Entry.init) { out.formUnion(e.addresses) }
        }
        return out
    }

    public func enqueue(_ entry: Entry, unique: UInt64) throws {
        try FileIO.makeDirectories(queueDir)
        try FileIO.writeAtomically("\(queueDir)/\(String(unique, radix: 16))", entry.bytes, .durable)
    }

    public func queued() throws -> [String] { try FileIO.list(queueDir).sorted() }

    /// Removes torn pool and queue entries (GC, under `locked`): they own nothing, and reconcile releases what
    /// EC2 still holds for them once the grace period has passed.
    public func sweepTorn() throws {
        for dir in [warmDir, queueDir] {
            for name in try FileIO.list(dir) where try FileIO.read("\(dir)/\(name)").flatMap(Entry.init) == nil {
                try FileIO.remove("\(dir)/\(name)", .durable)
            }
        }
    }

    /// The addresses of `eni` queued for a deferred release (the cooldown of mode ec2: `notBefore` set, and the
    /// ENI's MAC, so they were confirmed on it), one row per address with its queue file.
    public func coolingQueued(eni: String) throws -> [(path: String, address: IPAddress, notBefore: Int64)] {
        var out: [(path: String, address: IPAddress, notBefore: Int64)] = []
        for name in try queued() {
            let path = "\(queueDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init), e.eni == eni, e.mac != nil, e.notBefore > 0 else { continue }
            out += e.addresses.map { (path, $0, e.notBefore) }
        }
        return out
    }

    /// Takes `address` out of the queued release at `path` (the file goes when it held nothing else). Under `locked`.
    public func unqueue(_ address: IPAddress, at path: String) throws {
        guard var e = try FileIO.read(path).flatMap(Entry.init) else { return }
        e.addresses.removeAll { $0 == address }
        if e.addresses.isEmpty { try FileIO.remove(path, .durable) } else { try FileIO.writeAtomically(path, e.bytes, .durable) }
    }

    /// Drains queued releases that are due (`notBefore` passed), up to `limit` entries, with one unassign per ENI
    /// and family; entries stay queued when EC2 fails again. Returns how many entries were done. With `keepWarm`,
    /// due addresses confirmed on their ENI (the entry knows its MAC) first refill that ENI's warm pool up to
    /// that many per family, without an EC2 call.
    @discardableResult
    public func drain(limit: Int, now: Int64, gateway: EC2Gateway, keepWarm: Int = 0) throws -> Int {
        guard !(try queued()).isEmpty else { return 0 }
        return try locked { try drainLocked(limit: limit, now: now, gateway: gateway, keepWarm: keepWarm) }
    }

    /// How many queued releases are due at `now`, and since when the oldest of them is.
    public func dueSummary(now: Int64) throws -> (due: Int, oldest: Int64) {
        var due = 0, oldest = now
        for n in try queued() {
            guard let e = try FileIO.read("\(queueDir)/\(n)").flatMap(Entry.init), e.notBefore <= now else { continue }
            due += 1
            oldest = min(oldest, e.notBefore)
        }
        return (due, oldest)
    }

    private func drainLocked(limit: Int, now: Int64, gateway: EC2Gateway, keepWarm: Int) throws -> Int {
        var due: [(path: String, entry: Entry)] = []
        for name in try queued() {
            let path = "\(queueDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init) else { try FileIO.remove(path, .hint); continue }
            if e.notBefore <= now { due.append((path, e)) }
            if due.count >= limit { break }
        }
        guard !due.isEmpty else { return 0 }
        let live = try liveAddresses()
        var moved = 0
        if keepWarm > 0 {
            // Refill the warm pools first: what moves there needs no EC2 call (and the next ADDs none either).
            var pool: [String: [Bool: Int]] = [:]
            for w in try warm(eni: nil) { pool[w.entry.eni, default: [:]][w.address.isV4, default: 0] += 1 }
            for i in due.indices where due[i].entry.mac != nil {
                var e = due[i].entry
                let moving = e.addresses.filter { a in
                    guard !live.contains(a), pool[e.eni, default: [:]][a.isV4, default: 0] < keepWarm else { return false }
                    pool[e.eni, default: [:]][a.isV4, default: 0] += 1
                    return true
                }
                guard !moving.isEmpty else { continue }
                try addWarm(moving, eni: e.eni, mac: e.mac)
                e.addresses.removeAll { moving.contains($0) }
                if e.addresses.isEmpty {
                    try FileIO.remove(due[i].path, .durable)
                    moved += 1
                } else {
                    try FileIO.writeAtomically(due[i].path, e.bytes, .durable)
                }
                due[i].entry = e
            }
            due.removeAll { $0.entry.addresses.isEmpty }
            guard !due.isEmpty else { return moved }
        }
        var done = 0
        var byENI: [String: [(path: String, entry: Entry)]] = [:]
        for d in due { byENI[d.entry.eni, default: []].append(d) }
        for (eni, items) in byENI.sorted(by: { $0.key < $1.key }) {
            do {
                // "Still ours" from IMDS only when every entry knows the MAC; an entry without one asks EC2.
                let mac = items.allSatisfy { $0.entry.mac != nil } ? items.first?.entry.mac : nil
                try releaseAddresses(items.flatMap(\.entry.addresses), from: eni, mac: mac, keep: live, gateway: gateway)
                for i in items { try FileIO.remove(i.path, .durable) }
                done += items.count
            } catch {
                continue  // EC2 still unhappy for this ENI: keep its entries for later
            }
        }
        return done + moved
    }

    /// What `release` did, step by step (the plugin's DEL hangs its crash points and its log on these).
    public enum ReleaseStep {
        /// Queued: for the cooldown (`error` nil) or because EC2 could not take it now.
        case queued(error: (any Error)?)
        /// Unassigned from the ENI now, through `gateway`.
        case released(gateway: EC2Gateway)
        /// The ledger entry is gone.
        case forgotten
    }

    /// Ends an attachment's registration, the one way DEL and GC both do it: with a cooldown (`deferSeconds` > 0)
    /// the release is queued until then (the drain keeps what a live entry holds again); otherwise the addresses
    /// are released now — except any another attachment's entry or the warm pool holds — or queued when EC2 (or the
    /// agent) cannot take them; then the ledger entry goes. Queued first, forgotten after, each step durable: at any
    /// instant some record owns what EC2 holds. `queue: false` is the mutant build's DEL that loses the release.
    public func release(_ key: AttachmentKey, _ entry: Entry, deferSeconds: Int64, now: Int64,
                        unique: () -> UInt64, gateway: () throws -> EC2Gateway, queue: Bool = true,
                        step: (ReleaseStep) -> Void = { _ in }) throws {
        var entry = entry
        if deferSeconds > 0 {
            entry.notBefore = now + deferSeconds
            if queue { try enqueue(entry, unique: unique()) }
            step(.queued(error: nil))
        } else {
            do {
                let reg = try gateway()
                // Never what another attachment's entry or the warm pool holds: a stale entry (a DEL killed, or a
                // power cut, after its unassign but before its forget) can list an address EC2 has since given to
                // a new attachment of this node; releasing it again would take that pod's address away.
                let keep = try liveAddresses(excluding: key).union(warm(eni: entry.eni).map(\.address))
                try releaseAddresses(entry.addresses, from: entry.eni, mac: entry.mac, keep: keep, gateway: reg)
                step(.released(gateway: reg))
            } catch {
                if queue { try enqueue(entry, unique: unique()) }
                step(.queued(error: error))
            }
        }
        try forget(key)
        step(.forgotten)
    }
}
