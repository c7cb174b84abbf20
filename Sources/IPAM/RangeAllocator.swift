#if canImport(Glibc)
import Glibc
#endif
import CNI
import NetTypes
import NodeState
import Platform

/// The built-in `ranges` IPAM and its store.
///
/// Layout under `<dataDir>/<network>/` (directories 0700, files 0600), every change made under an exclusive
/// `flock` on `lock`:
/// - `attachments/<containerID>:<ifname>`: the attachment's record, listing its addresses. Written (atomically,
///   by rename) *before* the address files, removed *after* them, so a process killed at any point leaves either
///   nothing or a record that the next DEL or GC completes.
/// - `ips/<address>`: one file per reserved address, created with `O_EXCL`, holding its owner.
/// - `last_reserved_ip.<set>`: the round-robin cursor of each range set.
/// - `cooling/<address>`: a released address and the wall-clock second until which it is not handed out again
///   (`cooldownSeconds`); removed when it is taken again or by GC once expired. A *requested* address may be
///   taken while cooling: the pod asked for it by name.
///
/// ADD looks at candidate files only from the cursor on, and DEL reads one record: neither scans the store,
/// so their cost does not grow with the number of allocations. GC and STATUS list the directory.
/// Whether a release starts the address's cooldown: `.skip` for the rollback of an ADD whose address never reached
/// a pod.
public enum Cooldown: Sendable { case apply, skip }

public struct RangeAllocator: Sendable {
    public let config: IPAMConfig
    public let network: String
    /// Wall-clock seconds since the epoch (cooldown).
    public let now: @Sendable () -> Int64
    /// Crash points for the fault campaign (the plugin passes its environment's `failpoint`; a no-op elsewhere).
    let failpoint: @Sendable (String) -> Void

    public init(config: IPAMConfig, network: String, now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) },
                failpoint: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.network = network
        self.now = now
        self.failpoint = failpoint
    }

    /// The network's directory and files (`NodeState`).
    public var state: NetworkState { NodeStateLayout(dataDir: config.dataDir).network(network) }
    public var root: String { state.root }
    var lockPath: String { state.lock }
    func recordPath(_ k: AttachmentKey) -> String { state.attachment(k) }
    func ipPath(_ a: IPAddress) -> String { state.ip(a) }
    func cursorPath(_ set: Int) -> String { state.cursor(set) }
    func coolingPath(_ a: IPAddress) -> String { state.cooling(a) }

    /// Whether `a` was released less than `cooldownSeconds` ago (one stat when it was not).
    func isCooling(_ a: IPAddress, at t: Int64) -> Bool { coolingUntil(a, at: t) != nil }

    /// The wall-clock second `a`'s cooldown ends, if it is cooling at `t` (an unreadable record: the far future, so
    /// it is the last to be reused). One stat when it is not cooling.
    func coolingUntil(_ a: IPAddress, at t: Int64) -> Int64? {
        guard FileIO.exists(coolingPath(a)) else { return nil }
        guard let b = try? FileIO.read(coolingPath(a)), let until = CoolingMark.decode(b) else { return .max }
        return t < until ? until : nil
    }

    /// Every address released less than `cooldownSeconds` ago.
    public func coolingAddresses() throws(IPAMError) -> [IPAddress] {
        let t = now()
        return try file(FileIO.list(state.cooling)).compactMap { IPAddress($0) }.filter { isCooling($0, at: t) }
    }

    func prepare() throws(IPAMError) {
        try file(FileIO.makeDirectories(state.attachments))
        try file(FileIO.makeDirectories(state.ips))
    }

    // MARK: records

    /// The addresses recorded for an attachment: nil when it has no record, or a torn one (which holds nothing:
    /// ADD writes over it, DEL and GC remove it, and GC frees address files that name it).
    public func addresses(of key: AttachmentKey) throws(IPAMError) -> [IPAddress]? {
        guard let b = try file(FileIO.read(recordPath(key))) else { return nil }
        return AttachmentRecord.decode(b)
    }

    // MARK: ADD

    /// Reserves one address per range set (the requested one where given) and returns the IP configs.
    ///
    /// The cooldown is a preference, never a cause of failure: a set whose only free addresses are cooling gives
    /// the one whose cooldown ends first, and `reusedCooling` is told (address, end of its cooldown) so the caller
    /// can log it. `allowCooling: false` refuses them instead (prefix mode first asks EC2 for another prefix).
    public func allocate(_ key: AttachmentKey, requested: [RequestedIP], allowCooling: Bool = true,
                         reusedCooling: (IPAddress, Int64) -> Void = { _, _ in }) throws(IPAMError) -> [CNIResult.IPConfig] {
        // Requested addresses, each to its range set; checked against the config before anything is created on
        // disk, so a request that cannot be served leaves the store as it was.
        var wanted: [Int: IPAddress] = [:]
        for q in requested {
            guard let si = config.rangeSets.firstIndex(where: { $0.range(containing: q.address) != nil }) else {
                throw .requestedOutOfRange(address: q.description)
            }
            let range = config.rangeSets[si].range(containing: q.address)!
            if let len = q.prefixLength, len != range.subnet.length {
                throw .requestedInvalid(address: q.description,
                                        reason: "the range's subnet is \(range.subnet), not /\(len)")
            }
            if let other = wanted[si] {
                throw .requestedTwice(rangeSet: si, addresses: "\(other), \(q.address)")
            }
            guard range.isAssignable(q.address) else {
                throw .requestedInvalid(address: q.description,
                                        reason: "it is the network, broadcast or gateway address of \(range.subnet)")
            }
            wanted[si] = q.address
        }

        try prepare()
        let lock = try file(DirectoryLock(path: lockPath))
        defer { lock.hold() }

        if let held = try addresses(of: key) {
            throw .duplicateAllocation(containerID: key.containerID, ifname: key.ifname,
                                       addresses: held.map(\.description).joined(separator: ", "))
        }
        for q in requested where FileIO.exists(ipPath(q.address)) {
            let owner = (try? FileIO.read(ipPath(q.address))).flatMap { $0 }.map {
                String(decoding: $0, as: UTF8.self).split(separator: "\n").joined(separator: "/")
            } ?? "another attachment"
            throw .requestedUnavailable(address: q.description, reason: "it is held by \(owner)")
        }

        // Free addresses for the other sets, round-robin from each cursor.
        var chosen: [(set: Int, address: IPAddress, range: IPRange)] = []
        var cooling: [IPAddress] = []   // chosen addresses that may carry a cooldown mark to remove
        for (si, set) in config.rangeSets.enumerated() {
            if let a = wanted[si] {
                chosen.append((si, a, set.range(containing: a)!))
                cooling.append(a)
                continue
            }
            let cursor = try file(FileIO.read(cursorPath(si))).flatMap(RangeCursor.decode)
            guard let found = try nextFree(set, after: cursor, allowCooling: allowCooling) else {
                throw .exhausted(rangeSet: si, ranges: set.ranges.map { "\($0.rangeStart)-\($0.rangeEnd)" }
                    .joined(separator: ", "))
            }
            if let until = found.coolingUntil {
                reusedCooling(found.address, until)
                cooling.append(found.address)
            }
            chosen.append((si, found.address, set.range(containing: found.address)!))
        }

        // Record first, then the address files.
        try file(FileIO.writeAtomically(recordPath(key), AttachmentRecord.encode(key, chosen.map(\.address)), .durable))
        failpoint("add.ipam.after-record")
        var created: [IPAddress] = []
        do throws(IPAMError) {
            for c in chosen {
                guard try file(FileIO.createExclusive(ipPath(c.address), key.ownerBytes, .durable)) else {
                    throw IPAMError.requestedUnavailable(address: c.address.description, reason: "it was taken concurrently")
                }
                created.append(c.address)
            }
            failpoint("add.ipam.after-address-files")
            for c in chosen where wanted[c.set] == nil {
                try file(FileIO.writeAtomically(cursorPath(c.set), RangeCursor.encode(c.address), .hint))
            }
            for a in cooling { try file(FileIO.remove(coolingPath(a), .hint)) }
        } catch {
            for a in created { _ = try? FileIO.remove(ipPath(a), .durable) }
            _ = try? FileIO.remove(recordPath(key), .durable)
            throw error
        }
        return chosen.map { c in
            CNIResult.IPConfig(address: IPPrefix(address: c.address, length: c.range.subnet.length)!,
                               gateway: c.range.gateway)
        }
    }

    /// The first assignable address after `cursor` (wrapping) that is neither reserved nor cooling; failing that
    /// (and with `allowCooling`), the cooling one whose cooldown ends first, with that end.
    func nextFree(_ set: RangeSet, after cursor: IPAddress?, allowCooling: Bool = true) throws(IPAMError)
        -> (address: IPAddress, coolingUntil: Int64?)? {
        var ri = 0
        var ip = set.ranges[0].rangeStart
        if let c = cursor, let idx = set.ranges.firstIndex(where: { $0.contains(c) }) {
            ri = idx
            ip = c
            (ri, ip) = Self.step(set, ri, ip)
        }
        let total = set.ranges.reduce(Int64(0)) { $0 &+ $1.size }
        let t = now()
        var visited: Int64 = 0
        var coolest: (address: IPAddress, until: Int64)?
        while visited < total {
            let r = set.ranges[ri]
            if r.isAssignable(ip) && !FileIO.exists(ipPath(ip)) {
                guard let until = coolingUntil(ip, at: t) else { return (ip, nil) }
                if allowCooling, coolest == nil || until < coolest!.until { coolest = (ip, until) }
            }
            (ri, ip) = Self.step(set, ri, ip)
            visited += 1
        }
        return coolest.map { ($0.address, $0.until) }
    }

    static func step(_ set: RangeSet, _ ri: Int, _ ip: IPAddress) -> (Int, IPAddress) {
        if ip < set.ranges[ri].rangeEnd { return (ri, ip.next()) }
        let n = (ri + 1) % set.ranges.count
        return (n, set.ranges[n].rangeStart)
    }

    // MARK: DEL

    /// Releases every address of the attachment. Idempotent: nothing held is not an error. `cooldown: .skip` (the
    /// rollback of an ADD whose address never reached a pod) skips the cooldown.
    public func release(_ key: AttachmentKey, cooldown: Cooldown = .apply) throws(IPAMError) {
        guard FileIO.exists(root) else { return }
        let lock = try file(DirectoryLock(path: lockPath))
        defer { lock.hold() }
        try releaseLocked(key, cooldown: cooldown)
    }

    func releaseLocked(_ key: AttachmentKey, cooldown: Cooldown = .apply) throws(IPAMError) {
        guard let ips = try addresses(of: key) else {
            try file(FileIO.remove(recordPath(key), .durable))  // torn (or already gone: one unlink)
            return
        }
        let until = now() + Int64(config.cooldownSeconds)
        for ip in ips {
            let p = ipPath(ip)
            if let owner = try file(FileIO.read(p)), owner == key.ownerBytes {
                // Cooling first, then the reservation: a crash in between leaves the address held, never free early.
                if cooldown == .apply && config.cooldownSeconds > 0 {
                    try file(FileIO.makeDirectories(state.cooling))
                    try file(FileIO.writeAtomically(coolingPath(ip), CoolingMark.encode(until: until), .hint))
                }
                failpoint("del.ipam.after-cooling")
                try file(FileIO.remove(p, .durable))
            }
        }
        failpoint("del.ipam.after-address-files")
        try file(FileIO.remove(recordPath(key), .durable))
    }

    // MARK: CHECK

    /// Verifies that the attachment holds exactly `expected` (the prevResult's addresses that fall in our ranges).
    public func check(_ key: AttachmentKey, expected: [IPAddress]) throws(IPAMError) {
        guard let held = try addresses(of: key) else {
            throw .checkFailed("no addresses are reserved for \(key) in network \(network)")
        }
        for ip in held {
            guard let owner = try file(FileIO.read(ipPath(ip))), owner == key.ownerBytes else {
                throw .checkFailed("reservation of \(ip) for \(key) is missing or held by another attachment")
            }
        }
        let ours = expected.filter { a in config.rangeSets.contains { $0.range(containing: a) != nil } }
        if Set(ours) != Set(held) {
            throw .checkFailed("prevResult lists \(ours.map(\.description)) but \(key) holds \(held.map(\.description))")
        }
    }

    // MARK: GC and STATUS

    /// Frees every attachment not in `valid`, then every address file whose owner has no record.
    /// Keeps going after errors and returns them.
    public func collectGarbage(valid: Set<AttachmentKey>) -> [IPAMError] {
        guard FileIO.exists(root) else { return [] }
        var errors: [IPAMError] = []
        do throws(IPAMError) {
            let lock = try file(DirectoryLock(path: lockPath))
            defer { lock.hold() }
            // Temporary files of writers killed before their rename (no writer is active: we hold the lock).
            for dir in [root, state.attachments] {
                for name in try file(FileIO.list(dir, includeHidden: true)) where FileIO.isTemporaryName(name) {
                    try file(FileIO.remove(dir + "/" + name, .hint))
                }
            }
            let t = now()
            for name in try file(FileIO.list(state.cooling)) {
                // Expired, or unreadable (a hint a power cut left empty): either way no longer cooling.
                guard let a = IPAddress(name) else { continue }
                let until = coolingUntil(a, at: t)
                guard until == nil || until == .max else { continue }
                try file(FileIO.remove(coolingPath(a), .hint))
            }
            for name in try file(FileIO.list(state.attachments)) {
                guard let k = AttachmentKey(fileName: name) else { continue }
                if valid.contains(k) { continue }
                do { try releaseLocked(k) } catch { errors.append(error) }
            }
            for name in try file(FileIO.list(state.ips)) {
                let p = state.ips + "/" + name
                do {
                    guard let owner = try file(FileIO.read(p)) else { continue }
                    let k = AttachmentKey(ownerBytes: owner)
                    let ok = try k.flatMap { (k) throws(IPAMError) -> Bool in
                        guard valid.contains(k), let held = try addresses(of: k) else { return false }
                        return held.contains { $0.description == name }
                    } ?? false
                    if !ok { try file(FileIO.remove(p, .durable)) }
                } catch { errors.append(error) }
            }
        } catch { errors.append(error) }
        return errors
    }

    /// Nil when every range set has an address ADD can take (a cooling one counts: ADD reuses it when nothing else
    /// is free); otherwise why ADD cannot be served.
    public func exhaustion() throws(IPAMError) -> String? {
        var used = [Int64](repeating: 0, count: config.rangeSets.count)
        for name in try file(FileIO.list(state.ips)) {
            guard let a = IPAddress(name) else { continue }
            for (si, s) in config.rangeSets.enumerated() where s.ranges.contains(where: { $0.isAssignable(a) }) {
                used[si] += 1
            }
        }
        for (si, s) in config.rangeSets.enumerated() {
            let cap = s.ranges.reduce(Int64(0)) { acc, r in
                let excluded = [r.subnet.networkAddress, r.gateway, r.subnet.address.isV4 ? r.subnet.lastAddress : nil]
                    .compactMap { $0 }.filter { r.contains($0) }
                return acc &+ r.size - Int64(Set(excluded).count)
            }
            if used[si] >= cap {
                return "range set \(si) (\(s.ranges.map { "\($0.rangeStart)-\($0.rangeEnd)" }.joined(separator: ", "))) is exhausted: \(used[si]) of \(cap) addresses in use"
            }
        }
        return nil
    }
}
