import CNI
import IPAM
import JSON
import NetTypes

// Registration of pod addresses on the selected secondary ENI (issue: EC2 registration).
// The plugin-side logic only: it talks to EC2 and IMDS through `ENIRegistry`, which the AWS layer implements and
// tests replace with an in-memory model. Not wired into the verbs yet.

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
        return EC2NetworkConfig(
            selector: found[0],
            requireNoManageTag: try r.bool("requireNoManageTag") ?? true,
            clusterName: try r.string("clusterName"),
            allowForeignReassignment: try r.bool("allowForeignReassignment") ?? false,
            timeoutSeconds: Double(timeout))
    }
}

/// What IMDS says about one ENI of this instance (just what selection needs: three reads per MAC).
struct LocalENI: Equatable {
    var mac: MACAddress
    var id: String
    var deviceIndex: Int
    var subnetID: String
}

/// What EC2 says about an ENI.
struct RemoteENI: Equatable {
    var id: String
    var subnetID: String
    var deviceIndex: Int?
    var tags: [String: String]
    var ipv4: [IPAddress]
    var ipv6: [IPAddress]
}

/// The EC2 and IMDS operations registration needs. Errors are the AWS layer's (mapped to CNI codes in one place).
protocol ENIRegistry: AnyObject {
    func localENIs() throws -> [LocalENI]
    /// IMDS `local-ipv4s` and `ipv6s` of one MAC: where an assignment shows that it has landed.
    func localAddresses(mac: MACAddress) throws -> [IPAddress]
    func describe(ids: [String]) throws -> [RemoteENI]
    func describe(subnetID: String) throws -> [RemoteENI]
    func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [RemoteENI]
    func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws
    func unassign(ipv4: [IPAddress], from eni: String) throws
    func assign(ipv6: [IPAddress], to eni: String) throws
    func unassign(ipv6: [IPAddress], from eni: String) throws
}

enum RegistrationError: Error, CustomStringConvertible {
    case noENI(String)
    case refused(String)
    case foreignHolder(address: IPAddress, eni: String)
    case notConfirmed(address: IPAddress, eni: String)

    var description: String {
        switch self {
        case .noENI(let s), .refused(let s): return s
        case .foreignHolder(let a, let e):
            return "\(a) is assigned to \(e), which does not carry this cluster's ownership tag; refusing to take it (set \"allowForeignReassignment\": true to override)"
        case .notConfirmed(let a, let e): return "\(a) did not appear on \(e) in instance metadata in time"
        }
    }
}

/// Chooses the ENI a network config names, refusing the primary ENI and unmanaged-tag violations.
func selectENI(_ cfg: EC2NetworkConfig, registry: ENIRegistry) throws -> (local: LocalENI, remote: RemoteENI) {
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
    guard let remote = try registry.describe(ids: [chosen.id]).first else {
        throw RegistrationError.noENI("EC2 does not know \(chosen.id)")
    }
    if cfg.requireNoManageTag && remote.tags[EC2NetworkConfig.noManageTagKey] != "true" {
        throw RegistrationError.refused("\(chosen.id) lacks the tag \(EC2NetworkConfig.noManageTagKey)=true, so the VPC CNI would adopt it and hand its addresses to other pods; tag it at creation (or set \"requireNoManageTag\": false)")
    }
    return (chosen, remote)
}

/// Assigns `addresses` to `eni` with the ownership guard, then waits until IMDS shows them on the ENI's MAC.
/// Returns what it changed (for the undo).
func register(_ addresses: [IPAddress], on eni: RemoteENI, mac: MACAddress, cfg: EC2NetworkConfig,
              registry: ENIRegistry, confirmAttempts: Int = 50, pause: () -> Void) throws -> [IPAddress] {
    let v4 = addresses.filter(\.isV4).filter { !eni.ipv4.contains($0) }
    let v6 = addresses.filter { !$0.isV4 }.filter { !eni.ipv6.contains($0) }
    guard !v4.isEmpty || !v6.isEmpty else { return [] }
    // Who else holds them? Only ENIs of the same subnet can.
    let others = try registry.describe(subnetID: eni.subnetID).filter { $0.id != eni.id }
    var reassign = false
    var v6Holders: [(String, IPAddress)] = []
    for a in v4 + v6 {
        guard let holder = others.first(where: { $0.ipv4.contains(a) || $0.ipv6.contains(a) }) else { continue }
        let ours = cfg.clusterName.map { holder.tags[EC2NetworkConfig.clusterTagKey] == $0 } ?? false
        guard ours || cfg.allowForeignReassignment else { throw RegistrationError.foreignHolder(address: a, eni: holder.id) }
        if a.isV4 { reassign = true } else { v6Holders.append((holder.id, a)) }
    }
    // IPv6 has no reassignment flag: unassign from the previous holder first.
    for (holder, a) in v6Holders { try registry.unassign(ipv6: [a], from: holder) }
    if !v4.isEmpty { try registry.assign(ipv4: v4, to: eni.id, allowReassignment: reassign) }
    do {
        if !v6.isEmpty { try registry.assign(ipv6: v6, to: eni.id) }
    } catch {
        if !v4.isEmpty { try? registry.unassign(ipv4: v4, from: eni.id) }
        throw error
    }
    // Assignment is asynchronous: confirm through IMDS, bounded.
    let wanted = Set(v4 + v6)
    for attempt in 0..<confirmAttempts {
        if wanted.isSubset(of: Set(try registry.localAddresses(mac: mac))) { return v4 + v6 }
        if attempt + 1 < confirmAttempts { pause() }
    }
    if !v4.isEmpty { try? registry.unassign(ipv4: v4, from: eni.id) }
    if !v6.isEmpty { try? registry.unassign(ipv6: v6, from: eni.id) }
    throw RegistrationError.notConfirmed(address: wanted.sorted().first!, eni: eni.id)
}

/// Releases what an attachment registered, only where it is still on our ENI (a pod that moved to another node
/// keeps its address) and not held by another live attachment of this node.
func unregister(_ addresses: [IPAddress], from eniID: String, keep: Set<IPAddress>, registry: ENIRegistry) throws {
    guard let eni = try registry.describe(ids: [eniID]).first else { return }
    let v4 = addresses.filter { $0.isV4 && eni.ipv4.contains($0) && !keep.contains($0) }
    let v6 = addresses.filter { !$0.isV4 && eni.ipv6.contains($0) && !keep.contains($0) }
    if !v4.isEmpty { try registry.unassign(ipv4: v4, from: eniID) }
    if !v6.isEmpty { try registry.unassign(ipv6: v6, from: eniID) }
}

/// The ownership ledger and the durable release queue, under `<dataDir>/<network>/ec2/`.
///
/// `ledger/<containerID>:<ifname>` records an attachment's ENI and addresses (written before EC2 is asked, so a
/// crash mid-assign is still released by DEL). `queue/<n>` holds releases that EC2 could not take when DEL ran;
/// later invocations drain it a few entries at a time, skipping addresses a live ledger entry holds again.
struct EC2Ledger {
    let root: String

    struct Entry: Equatable {
        var eni: String
        var addresses: [IPAddress]
        var pod: String
        var bytes: [UInt8] {
            var s = "eni=\(eni)\n"
            if !pod.isEmpty { s += "pod=\(pod)\n" }
            for a in addresses { s += "ip=\(a)\n" }
            return Array(s.utf8)
        }
        init(eni: String, addresses: [IPAddress], pod: String = "") { self.eni = eni; self.addresses = addresses; self.pod = pod }
        init?(_ b: [UInt8]) {
            var e: String?, ips: [IPAddress] = [], p = ""
            for line in String(decoding: b, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("eni=") { e = String(line.dropFirst(4)) }
                if line.hasPrefix("ip="), let a = IPAddress(line.dropFirst(3)) { ips.append(a) }
                if line.hasPrefix("pod=") { p = String(line.dropFirst(4)) }
            }
            guard let e else { return nil }
            eni = e; addresses = ips; pod = p
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

    func record(_ key: AttachmentKey, _ entry: Entry) throws {
        try FileIO.makeDirectories(ledgerDir)
        try FileIO.writeAtomically("\(ledgerDir)/\(key.fileName)", entry.bytes)
    }

    func entry(_ key: AttachmentKey) throws -> Entry? {
        try FileIO.read("\(ledgerDir)/\(key.fileName)").flatMap(Entry.init)
    }

    func forget(_ key: AttachmentKey) throws { try FileIO.remove("\(ledgerDir)/\(key.fileName)") }

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
        try FileIO.writeAtomically("\(queueDir)/\(String(unique, radix: 16))", entry.bytes)
    }

    func queued() throws -> [String] { try FileIO.list(queueDir).sorted() }

    /// Drains up to `limit` queued releases; an entry stays queued when EC2 fails again. Returns how many were done.
    @discardableResult
    func drain(limit: Int, registry: ENIRegistry) throws -> Int {
        guard !(try queued()).isEmpty else { return 0 }
        return try locked { try drainLocked(limit: limit, registry: registry) }
    }

    private func drainLocked(limit: Int, registry: ENIRegistry) throws -> Int {
        let names = try queued()
        guard !names.isEmpty else { return 0 }
        let live = try liveAddresses()
        var done = 0
        for name in names.prefix(limit) {
            let path = "\(queueDir)/\(name)"
            guard let e = try FileIO.read(path).flatMap(Entry.init) else { try FileIO.remove(path); continue }
            do {
                try unregister(e.addresses, from: e.eni, keep: live, registry: registry)
                try FileIO.remove(path)
                done += 1
            } catch {
                break  // EC2 still unhappy: keep the rest for later
            }
        }
        return done
    }
}
