import Platform
import AgentProtocol
import CNI
import IPAM
import JSON
import NetTypes

// Registration of pod addresses on the selected secondary ENI (issue: EC2 registration).
// The plugin-side logic only: it talks to EC2 and IMDS through `ENIRegistry`, which the AWS layer implements and
// tests replace with an in-memory model.

/// `"eni": {…}` and the options around it.
struct EC2NetworkConfig: Equatable {
    enum Selector: Equatable {
        case id(String)
        case subnetID(String)
        case deviceIndex(Int)
        case tag(key: String, value: String)
    }

    static let noManageTagKey = "node.k8s.amazonaws.com/no_manage"
    static let clusterTagKey = "eni-multus.io/cluster"

    var selector: Selector
    var requireNoManageTag: Bool
    /// The cluster whose ownership tag makes another ENI's address ours to take back (`clusterName`).
    var clusterName: String?
    var allowForeignReassignment: Bool
    var timeoutSeconds: Double
    /// The node agent's socket (`agentSocket`); nil: `ENI_MULTUS_AGENT_SOCKET` or the default.
    var agentSocket: String? = nil

    /// Nil when the config has no `eni` block (no EC2 registration).
    static func parse(_ raw: JSONObject) throws(CNIError) -> EC2NetworkConfig? {
        let r = ConfigReader(raw, path: "")
        guard let eni = try r.object("eni") else { return nil }
        var found: [Selector] = []
        if let id = try eni.string("id") {
            guard id.hasPrefix("eni-"), id.count <= 32 else { throw eni.invalid("id", "\"\(id)\" is not an ENI id (eni-…)") }
            found.append(.id(id))
        }
        if let s = try eni.string("subnetId") {
            guard s.hasPrefix("subnet-"), s.count <= 40 else { throw eni.invalid("subnetId", "\"\(s)\" is not a subnet id (subnet-…)") }
            found.append(.subnetID(s))
        }
        if let d = try eni.int("deviceIndex", in: 0...63) { found.append(.deviceIndex(Int(d))) }
        if let t = try eni.object("tag") {
            guard let k = try t.string("key"), !k.isEmpty else { throw t.invalid("key", "is required") }
            found.append(.tag(key: k, value: try t.string("value") ?? ""))
        }
        guard found.count == 1 else {
            throw CNIError(.invalidConfig,
                           "eni needs exactly one of \"id\", \"subnetId\", \"deviceIndex\" or \"tag\" (\(found.count) given)")
        }
        if case .deviceIndex(0) = found[0] {
            throw CNIError(.invalidConfig, "eni.deviceIndex 0 is the node's primary ENI, which the VPC CNI owns")
        }
        let timeout = try r.int("ec2TimeoutSeconds", in: 1...120) ?? 10
        let socket = try r.string("agentSocket")
        if let socket, !socket.hasPrefix("/") || socket.utf8.count > 107 || socket.split(separator: "/").contains("..") {
            throw r.invalid("agentSocket", "\"\(socket)\" is not an absolute socket path without \"..\" (at most 107 bytes)")
        }
        return EC2NetworkConfig(
            selector: found[0],
            requireNoManageTag: try r.bool("requireNoManageTag") ?? true,
            clusterName: try r.string("clusterName"),
            allowForeignReassignment: try r.bool("allowForeignReassignment") ?? false,
            timeoutSeconds: Double(timeout),
            agentSocket: socket)
    }
}

enum RegistrationError: Error, CustomStringConvertible {
    case noENI(String)
    case refused(String)
    case foreignHolder(address: IPAddress, eni: String)
    case notConfirmed(address: IPAddress, eni: String)
    case eniFull(String)

    var description: String {
        switch self {
        case .noENI(let s), .refused(let s), .eniFull(let s): return s
        case .foreignHolder(let a, let e):
            return "\(a) is assigned to \(e), which does not carry this cluster's ownership tag; refusing to take it (set \"allowForeignReassignment\": true to override)"
        case .notConfirmed(let a, let e): return "\(a) did not appear on \(e) in instance metadata in time"
        }
    }
}

/// ENIs whose `no_manage` tag has been verified on this node, so that steady-state ADDs make no Describe call:
/// `<dir>/<eni-id>` holds the subnet id. An ENI id is never reused, and an ENI that leaves the instance stops
/// being selected (IMDS), so the cache cannot point at the wrong ENI (reconcile prunes entries of ENIs no longer
/// attached). Removing the tag from an ENI that stays attached is not noticed until its entry is removed.
struct VerifiedENICache {
    let dir: String
    func contains(_ id: String) -> Bool { FileIO.exists("\(dir)/\(id)") }
    func remember(_ e: RemoteENI) {
        try? FileIO.makeDirectories(dir)
        try? FileIO.writeAtomically("\(dir)/\(e.id)", Array("subnet=\(e.subnetID)\n".utf8), .hint)
    }
    func all() -> [String] { (try? FileIO.list(dir)) ?? [] }
    func forget(_ id: String) { _ = try? FileIO.remove("\(dir)/\(id)", .hint) }
}

/// Chooses the ENI a network config names, refusing the primary ENI and unmanaged-tag violations. With a cache,
/// an ENI already verified is not described again (`fresh` forces the Describe, e.g. for CHECK).
func selectENI(_ cfg: EC2NetworkConfig, registry: ENIRegistry, cache: VerifiedENICache? = nil,
               fresh: Bool = false) throws -> (local: LocalENI, remote: RemoteENI) {
    let locals = try registry.localENIs()
    var candidates: [LocalENI]
    switch cfg.selector {
    case .id(let id): candidates = locals.filter { $0.id == id }
    case .subnetID(let s): candidates = locals.filter { $0.subnetID == s && $0.deviceIndex != 0 }
    case .deviceIndex(let d): candidates = locals.filter { $0.deviceIndex == d }
    case .tag(let k, let v):
        let tagged = Set(try registry.describe(tagKey: k, value: v, instanceENIs: locals.map(\.id)).map(\.id))
        candidates = locals.filter { tagged.contains($0.id) }
    }
    candidates.sort { $0.deviceIndex < $1.deviceIndex }
    guard let chosen = candidates.first else {
        throw RegistrationError.noENI("no ENI of this instance matches eni \(cfg.selector) (instance ENIs: \(locals.map { "\($0.id)@\($0.deviceIndex)" }.joined(separator: ", ")))")
    }
    if chosen.deviceIndex == 0 {
        throw RegistrationError.refused("\(chosen.id) is the primary ENI (device index 0), which the VPC CNI owns; select a secondary ENI")
    }
    if !fresh, let cache, cache.contains(chosen.id) {
        return (chosen, RemoteENI(id: chosen.id, subnetID: chosen.subnetID, deviceIndex: chosen.deviceIndex,
                                  tags: [EC2NetworkConfig.noManageTagKey: "true"], ipv4: [], ipv6: [], known: false))
    }
    guard let remote = try registry.describe(ids: [chosen.id]).first else {
        throw RegistrationError.noENI("EC2 does not know \(chosen.id)")
    }
    if cfg.requireNoManageTag && remote.tags[EC2NetworkConfig.noManageTagKey] != "true" {
        throw RegistrationError.refused("\(chosen.id) lacks the tag \(EC2NetworkConfig.noManageTagKey)=true, so the VPC CNI would adopt it and hand its addresses to other pods; tag it at creation (or set \"requireNoManageTag\": false)")
    }
    if cfg.requireNoManageTag { cache?.remember(remote) }
    return (chosen, remote)
}

/// Who holds `addresses` in the ENI's subnet, when EC2 said some are in use: those on our own ENI need nothing;
/// those on an ENI of this cluster (`clusterName` tag) may be taken back; anything else is refused unless
/// `allowForeignReassignment`.
private func resolveHolders(_ addresses: [IPAddress], eni: RemoteENI, cfg: EC2NetworkConfig,
                            registry: ENIRegistry) throws -> (alreadyOurs: Set<IPAddress>, holders: [(String, IPAddress)]) {
    var mine = Set<IPAddress>()
    var holders: [(String, IPAddress)] = []
    let all = try registry.describe(subnetID: eni.subnetID)
    for a in addresses {
        guard let holder = all.first(where: { $0.ipv4.contains(a) || $0.ipv6.contains(a) }) else { continue }
        if holder.id == eni.id { mine.insert(a); continue }
        let ours = cfg.clusterName.map { holder.tags[EC2NetworkConfig.clusterTagKey] == $0 } ?? false
        guard ours || cfg.allowForeignReassignment else { throw RegistrationError.foreignHolder(address: a, eni: holder.id) }
        holders.append((holder.id, a))
    }
    return (mine, holders)
}

/// Waits (bounded) until IMDS shows `wanted` on the ENI's MAC: assignment is asynchronous.
func confirmVisible(_ wanted: Set<IPAddress>, mac: MACAddress, eni: String, registry: ENIRegistry,
                    attempts: Int, pause: () -> Void) throws {
    for attempt in 0..<attempts {
        if wanted.isSubset(of: Set(try registry.localAddresses(mac: mac))) { return }
        if attempt + 1 < attempts { pause() }
    }
    throw RegistrationError.notConfirmed(address: wanted.sorted().first!, eni: eni)
}

/// Assigns `addresses` to `eni` with the ownership guard, then waits until IMDS shows them on the ENI's MAC.
/// Returns what it changed (for the undo). One EC2 call in the common case: the addresses are assigned first,
/// and only when EC2 answers that one is in use does it look (one Describe of the subnet) at who holds it.
func register(_ addresses: [IPAddress], on eni: RemoteENI, mac: MACAddress, cfg: EC2NetworkConfig,
              registry: ENIRegistry, confirmAttempts: Int = 50, pause: () -> Void) throws -> [IPAddress] {
    var v4 = addresses.filter(\.isV4).filter { !eni.ipv4.contains($0) }
    var v6 = addresses.filter { !$0.isV4 }.filter { !eni.ipv6.contains($0) }
    guard !v4.isEmpty || !v6.isEmpty else { return [] }
    if !v4.isEmpty {
        do {
            try registry.assign(ipv4: v4, to: eni.id, allowReassignment: false)
        } catch let inUse as AddressInUse {
            let (mine, holders) = try resolveHolders(v4, eni: eni, cfg: cfg, registry: registry)
            v4.removeAll { mine.contains($0) }
            guard !holders.isEmpty || !mine.isEmpty else { throw inUse }
            if !v4.isEmpty { try registry.assign(ipv4: v4, to: eni.id, allowReassignment: !holders.isEmpty) }
        }
    }
    do {
        if !v6.isEmpty {
            do {
                try registry.assign(ipv6: v6, to: eni.id)
            } catch let inUse as AddressInUse {
                // IPv6 has no reassignment flag: unassign from the previous holder first.
                let (mine, holders) = try resolveHolders(v6, eni: eni, cfg: cfg, registry: registry)
                v6.removeAll { mine.contains($0) }
                guard !holders.isEmpty || !mine.isEmpty else { throw inUse }
                for (holder, a) in holders { try registry.unassign(ipv6: [a], from: holder) }
                if !v6.isEmpty { try registry.assign(ipv6: v6, to: eni.id) }
            }
        }
        try confirmVisible(Set(v4 + v6), mac: mac, eni: eni.id, registry: registry, attempts: confirmAttempts, pause: pause)
    } catch {
        if !v4.isEmpty { try? registry.unassign(ipv4: v4, from: eni.id) }
        if !v6.isEmpty { try? registry.unassign(ipv6: v6, from: eni.id) }
        throw error
    }
    return v4 + v6
}

/// Releases what an attachment registered, only where it is still on our ENI (a pod that moved to another node
/// keeps its address) and not held by another live attachment of this node. Where the ENI is on this instance
/// (`mac` known and listed by IMDS) "still on our ENI" is read from IMDS, so the release is one EC2 call; else,
/// or when that call fails with a client error, from EC2 (Describe).
func unregister(_ addresses: [IPAddress], from eniID: String, mac: MACAddress? = nil, keep: Set<IPAddress>,
                registry: ENIRegistry) throws {
    func release(_ present: Set<IPAddress>) throws {
        let v4 = addresses.filter { $0.isV4 && present.contains($0) && !keep.contains($0) }
        let v6 = addresses.filter { !$0.isV4 && present.contains($0) && !keep.contains($0) }
        if !v4.isEmpty { try registry.unassign(ipv4: v4, from: eniID) }
        if !v6.isEmpty { try registry.unassign(ipv6: v6, from: eniID) }
    }
    if let mac, let local = try? registry.localAddresses(mac: mac), !local.isEmpty {
        do { return try release(Set(local)) } catch let e as EC2CallFailure where !e.retryable { /* describe below */ }
    }
    guard let eni = try registry.describe(ids: [eniID]).first else { return }
    try release(Set(eni.ipv4 + eni.ipv6))
}

/// The ownership ledger and the durable release queue, under `<dataDir>/<network>/ec2/`.
///
/// `ledger/<containerID>:<ifname>` records an attachment's ENI and addresses (written before EC2 is asked, so a
/// crash mid-assign is still released by DEL). `queue/<n>` holds releases that EC2 could not take when DEL ran;
/// later invocations drain it a few entries at a time, skipping addresses a live ledger entry holds again.
/// `warm/<address>` holds the `ec2` mode's warm pool: addresses assigned to our ENI and confirmed, owned by no
/// attachment, handed to the next ADD without an EC2 call (`ipam.warmAddresses`, `ipam.minimumAddresses`).
struct EC2Ledger {
    let root: String

    struct Entry: Equatable {
        var eni: String
        var addresses: [IPAddress]
        var pod: String
        /// The ENI's MAC, when known: "still ours" is then read from IMDS on release. Releases queued for an
        /// assignment that may have just landed carry none, so the release asks EC2 (IMDS can lag behind it).
        var mac: MACAddress?
        /// Queue only: not released before this wall-clock second (cooldown).
        var notBefore: Int64
        var bytes: [UInt8] {
            var s = "eni=\(eni)\n"
            if let mac { s += "mac=\(mac)\n" }
            if !pod.isEmpty { s += "pod=\(pod)\n" }
            if notBefore > 0 { s += "after=\(notBefore)\n" }
            for a in addresses { s += "ip=\(a)\n" }
            return Array(s.utf8)
        }
        init(eni: String, addresses: [IPAddress], pod: String = "", mac: MACAddress? = nil, notBefore: Int64 = 0) {
            self.eni = eni; self.addresses = addresses; self.pod = pod; self.mac = mac; self.notBefore = notBefore
        }
        /// Nil for a torn entry (no final newline, no ENI, an address that does not parse): readers skip it and GC
        /// removes it; under the fsync policy only a lying disk or an older build leaves one.
        init?(_ b: [UInt8]) {
            guard b.last == UInt8(ascii: "\n") else { return nil }
            var e: String?, ips: [IPAddress] = [], p = "", m: MACAddress?, after: Int64 = 0
            for line in String(decoding: b, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("eni=") { e = String(line.dropFirst(4)) }
                if line.hasPrefix("ip=") {
                    guard let a = IPAddress(line.dropFirst(3)) else { return nil }
                    ips.append(a)
                }
                if line.hasPrefix("pod=") { p = String(line.dropFirst(4)) }
                if line.hasPrefix("mac=") { m = MACAddress(String(line.dropFirst(4))) }
                if line.hasPrefix("after=") { after = Int64(line.dropFirst(6)) ?? 0 }
            }
            guard let e else { return nil }
            eni = e; addresses = ips; pod = p; mac = m; notBefore = after
        }
    }

    var ledgerDir: String { root + "/ledger" }

    /// Runs `body` under the ledger's flock: recording an entry and draining the queue exclude each other, so a
    /// queued release never takes an address that a new attachment has just recorded.
    func locked<R>(_ body: () throws -> R) throws -> R {
        try FileIO.makeDirectories(root)
        let lock = try DirectoryLock(path: root + "/lock")
        defer { lock.hold() }
        return try body()
    }
    var queueDir: String { root + "/queue" }
    var warmDir: String { root + "/warm" }

    /// The warm pool of `eni` (every ENI when nil): one row per address with its file. Under `locked` when it
    /// matters who takes what.
    func warm(eni: String?) throws -> [(path: String, address: IPAddress, entry: Entry)] {
        var out: [(path: String, address: IPAddress, entry: Entry)] = []
        for name in try FileIO.list(warmDir).sorted() {
            let path = "\(warmDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init), let a = e.addresses.first else { continue }
            if eni == nil || e.eni == eni { out.append((path, a, e)) }
        }
        return out
    }

    /// Puts `addresses` (assigned to `eni`, owned by no attachment) into the warm pool. Under `locked`.
    func addWarm(_ addresses: [IPAddress], eni: String, mac: MACAddress?) throws {
        guard !addresses.isEmpty else { return }
        try FileIO.makeDirectories(warmDir)
        for a in addresses {
            try FileIO.writeAtomically("\(warmDir)/\(a)", Entry(eni: eni, addresses: [a], mac: mac).bytes, .durable)
        }
    }

    func record(_ key: AttachmentKey, _ entry: Entry) throws {
        try FileIO.makeDirectories(ledgerDir)
        try FileIO.writeAtomically("\(ledgerDir)/\(key.fileName)", entry.bytes, .durable)
    }

    func entry(_ key: AttachmentKey) throws -> Entry? {
        try FileIO.read("\(ledgerDir)/\(key.fileName)").flatMap(Entry.init)
    }

    func forget(_ key: AttachmentKey) throws { try FileIO.remove("\(ledgerDir)/\(key.fileName)", .durable) }

    /// Every address a live attachment holds (scanned only when the queue has work).
    func liveAddresses() throws -> Set<IPAddress> {
        var out = Set<IPAddress>()
        for name in try FileIO.list(ledgerDir) {
            if let e = try FileIO.read("\(ledgerDir)/\(name)").flatMap(Entry.init) { out.formUnion(e.addresses) }
        }
        return out
    }

    func enqueue(_ entry: Entry, unique: UInt64) throws {
        try FileIO.makeDirectories(queueDir)
        try FileIO.writeAtomically("\(queueDir)/\(String(unique, radix: 16))", entry.bytes, .durable)
    }

    func queued() throws -> [String] { try FileIO.list(queueDir).sorted() }

    /// Removes torn pool and queue entries (GC, under `locked`): they own nothing, and reconcile releases what
    /// EC2 still holds for them once the grace period has passed.
    func sweepTorn() throws {
        for dir in [warmDir, queueDir] {
            for name in try FileIO.list(dir) where try FileIO.read("\(dir)/\(name)").flatMap(Entry.init) == nil {
                try FileIO.remove("\(dir)/\(name)", .durable)
            }
        }
    }

    /// The addresses of `eni` queued for a deferred release (the cooldown of mode ec2: `notBefore` set, and the
    /// ENI's MAC, so they were confirmed on it), one row per address with its queue file.
    func coolingQueued(eni: String) throws -> [(path: String, address: IPAddress, notBefore: Int64)] {
        var out: [(path: String, address: IPAddress, notBefore: Int64)] = []
        for name in try queued() {
            let path = "\(queueDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init), e.eni == eni, e.mac != nil, e.notBefore > 0 else { continue }
            out += e.addresses.map { (path, $0, e.notBefore) }
        }
        return out
    }

    /// Takes `address` out of the queued release at `path` (the file goes when it held nothing else). Under `locked`.
    func unqueue(_ address: IPAddress, at path: String) throws {
        guard var e = try FileIO.read(path).flatMap(Entry.init) else { return }
        e.addresses.removeAll { $0 == address }
        if e.addresses.isEmpty { try FileIO.remove(path, .durable) } else { try FileIO.writeAtomically(path, e.bytes, .durable) }
    }

    /// Drains queued releases that are due (`notBefore` passed), up to `limit` entries, with one unassign per ENI
    /// and family; entries stay queued when EC2 fails again. Returns how many entries were done. With `keepWarm`,
    /// due addresses confirmed on their ENI (the entry knows its MAC) first refill that ENI's warm pool up to
    /// that many per family, without an EC2 call.
    @discardableResult
    func drain(limit: Int, now: Int64, registry: ENIRegistry, keepWarm: Int = 0) throws -> Int {
        guard !(try queued()).isEmpty else { return 0 }
        return try locked { try drainLocked(limit: limit, now: now, registry: registry, keepWarm: keepWarm) }
    }

    /// How many queued releases are due at `now`, and since when the oldest of them is.
    func dueSummary(now: Int64) throws -> (due: Int, oldest: Int64) {
        var due = 0, oldest = now
        for n in try queued() {
            guard let e = try FileIO.read("\(queueDir)/\(n)").flatMap(Entry.init), e.notBefore <= now else { continue }
            due += 1
            oldest = min(oldest, e.notBefore)
        }
        return (due, oldest)
    }

    private func drainLocked(limit: Int, now: Int64, registry: ENIRegistry, keepWarm: Int) throws -> Int {
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
                try unregister(items.flatMap(\.entry.addresses), from: eni, mac: mac, keep: live, registry: registry)
                for i in items { try FileIO.remove(i.path, .durable) }
                done += items.count
            } catch {
                continue  // EC2 still unhappy for this ENI: keep its entries for later
            }
        }
        return done + moved
    }
}
