#if canImport(Glibc)
import Glibc
#endif
import Platform
import AgentProtocol
import CNI
import IPAM
import NetTypes
import NodeState
import Registration

// The EC2-native IPAM modes (`"ipam": {"type": "eni-multus", "mode": "ec2" | "prefix"}`), on the ENI the
// network's `eni` block selects. Both keep their records beside the ranges store, under `<dataDir>/<network>/`.

/// The ENI's subnet of each family (IMDS) and the gateway a pod address gets in it.
public struct ENISubnets {
    public var v4: IPPrefix?
    public var v6: IPPrefix?

    public init(_ gateway: EC2Gateway, mac: MACAddress) throws {
        let all = try gateway.subnets(mac: mac)
        v4 = all.first { $0.address.isV4 }
        v6 = all.first { !$0.address.isV4 }
    }

    public func subnet(v4 want: Bool, eni: String) throws -> IPPrefix {
        guard let s = want ? v4 : v6 else {
            throw RegistrationError.refused("the subnet of \(eni) has no \(want ? "IPv4" : "IPv6") CIDR block (instance metadata), so it cannot serve ipam.families \(want ? "ipv4" : "ipv6")")
        }
        return s
    }

    public static func gateway(_ subnet: IPPrefix, _ config: IPAMConfig) -> IPAddress {
        (subnet.address.isV4 ? config.gateway : config.gateway6) ?? subnet.networkAddress.next()
    }
}

/// Address slots of the family in use on the selected ENI (addresses, the primary included, plus prefixes: each
/// prefix takes one slot of the instance type's per-ENI limit), and that limit. IMDS only, plus the node's cached
/// `DescribeInstanceTypes`.
public func addressSlots(_ r: SelectedENI, _ fam: IPAMConfig.Family, dataDir: String) throws
    -> (used: Int, cap: Int, instanceType: String) {
    let limits = try NodeRecords(dataDir: dataDir).limits(r.gateway)
    let used = try r.gateway.localAddresses(mac: r.attached.mac).filter { $0.isV4 == fam.isV4 }.count
        + r.gateway.localPrefixes(mac: r.attached.mac).filter { $0.address.isV4 == fam.isV4 }.count
    return (used, fam.isV4 ? limits.ipv4PerENI : limits.ipv6PerENI, limits.instanceType)
}

// MARK: - mode "ec2"

/// EC2 chooses each address (`SecondaryPrivateIpAddressCount` / `Ipv6AddressCount` = 1) on the selected ENI:
/// unique across the cluster by construction, with no datastore. The EC2 ledger is the record: an entry is
/// written before EC2 is asked (so DEL after a crash finds it) and completed with the addresses EC2 chose.
/// DEL queues the release until the cooldown has passed (the address stays on our ENI meanwhile, so EC2 cannot
/// hand it to another pod); later invocations, GC and the node agent's reconcile drain the queue in batches.
public struct EC2ModeIPAM {
    public let config: IPAMConfig
    public let network: String

    public init(config: IPAMConfig, network: String) { self.config = config; self.network = network }

    public func add(_ inv: some EC2IPAMContext, interface: Int?, undo: UndoStack) throws -> CNIResult {
        guard let r = inv.registration else { throw RegistrationError.needsENI(mode: config.mode.rawValue) }
        let ledger = RegistrationStore(NodeStateLayout(dataDir: config.dataDir).network(network))
        let key = inv.key
        try ledger.locked {
            if let held = try ledger.entry(key), !held.addresses.isEmpty {
                throw IPAMError.duplicateAllocation(containerID: key.containerID, ifname: key.ifname,
                                                    addresses: held.addresses.map(\.description).joined(separator: ", "))
            }
            try ledger.record(key, .init(eni: r.described.id, addresses: [], pod: inv.podIdentity, mac: r.attached.mac))
        }
        inv.failpoint("add.ec2.after-ledger-open")
        undo.push("forget the ledger entry") { try ledger.forget(key) }

        let subnets = try ENISubnets(r.gateway, mac: r.attached.mac)
        let requested = inv.requestedIPs
        for q in requested where !config.families.contains(where: { $0.isV4 == q.address.isV4 }) {
            throw IPAMError.requestedOutOfRange(address: q.description)
        }
        var ips: [CNIResult.IPConfig] = []
        var assigned: [IPAddress] = []
        for fam in config.families {
            let subnet = try subnets.subnet(v4: fam.isV4, eni: r.described.id)
            let address: IPAddress
            if let q = requested.first(where: { $0.address.isV4 == fam.isV4 }) {
                guard subnet.contains(q.address) else {
                    throw IPAMError.requestedUnavailable(address: q.description, reason: "it is outside \(r.described.id)'s subnet \(subnet)")
                }
                // Explicit: with the ownership guard; confirmed in IMDS inside.
                let added = try register([q.address], on: r.described, mac: r.attached.mac, cfg: r.config,
                                         gateway: r.gateway, pause: { usleep(100_000) })
                if !added.isEmpty { inv.pushUnassign(added, r, ledger, undo) }
                address = q.address
            } else if poolEnabled,
                      let warm = try takeWarm(v4: fam.isV4, r, ledger, key: key, holding: ips.map(\.address.address),
                                              pod: inv.podIdentity, now: inv.now,
                                              onENI: Set(try r.gateway.localAddresses(mac: r.attached.mac))) {
                // The warm pool (or an address whose cooldown is over), shown on the ENI by IMDS: no EC2 call.
                inv.failpoint("add.ec2.after-warm-take")
                undo.push("return \(warm) to the warm pool") {
                    try ledger.locked { try ledger.addWarm([warm], eni: r.described.id, mac: r.attached.mac) }
                }
                address = warm
            } else {
                do {
                    // One call for this ADD and the warm pool's refill.
                    let extra = poolEnabled ? min(64, try warmTarget(v4: fam.isV4, eni: r.described.id, ledger, adding: 1)) : 0
                    var got: [IPAddress]
                    do { got = try r.gateway.assign(count: 1 + extra, v4: fam.isV4, to: r.described.id) } catch let e as EC2CallFailure where extra > 0 && !e.tryAgainLater {
                        // The ENI may have room for this ADD but not for the pool.
                        got = try r.gateway.assign(count: 1, v4: fam.isV4, to: r.described.id)
                    }
                    inv.failpoint("add.ec2.after-assign")
                    inv.pushUnassign([got[0]], r, ledger, undo)
                    if got.count > 1 {
                        // Concurrent ADDs may all have refilled: the pool keeps what it still lacks, the rest is
                        // queued for release (owned, and unassigned in one batch by the next drain).
                        try ledger.locked {
                            let lack = try warmTarget(v4: fam.isV4, eni: r.described.id, ledger, adding: 1)
                            let keep = Array(got.dropFirst().prefix(lack))
                            try ledger.addWarm(keep, eni: r.described.id, mac: r.attached.mac)
                            let excess = Array(got.dropFirst(1 + keep.count))
                            if !excess.isEmpty {
                                try ledger.enqueue(.init(eni: r.described.id, addresses: excess, mac: r.attached.mac), unique: inv.random())
                            }
                        }
                    }
                    address = got[0]
                    assigned += got
                } catch {
                    // EC2 gives no new address (the ENI or the subnet is full, or EC2 fails now): the cooldown is a
                    // preference, never a cause of failure, so an address this node keeps on the ENI through its
                    // cooldown (queued for a deferred release) is taken back, the one whose cooldown ends first.
                    // When that fails too (IMDS down as well), the assignment's error is the one to report.
                    guard let (back, until) = (try? reclaimCooling(v4: fam.isV4, r, ledger, key: key,
                                                                   holding: ips.map(\.address.address),
                                                                   pod: inv.podIdentity)) ?? nil
                    else { throw error }
                    inv.logCoolingReuse(back, until: until)
                    inv.pushUnassign([back], r, ledger, undo)
                    address = back
                }
            }
            ips.append(CNIResult.IPConfig(address: IPPrefix(address: address, length: subnet.length)!,
                                          gateway: ENISubnets.gateway(subnet, config), interface: interface))
        }
        let all = ips.map(\.address.address)
        try ledger.locked { try ledger.record(key, .init(eni: r.described.id, addresses: all, pod: inv.podIdentity, mac: r.attached.mac)) }
        inv.failpoint("add.ec2.after-ledger-complete")
        if !assigned.isEmpty {
            try confirmVisible(Set(assigned), mac: r.attached.mac, eni: r.described.id, gateway: r.gateway, attempts: 50,
                               pause: { usleep(100_000) })
        }
        return CNIResult(ips: ips, routes: config.routes)
    }

    /// Whether the network keeps a warm pool (`warmAddresses` or `minimumAddresses`).
    public var poolEnabled: Bool { config.warmAddresses > 0 || config.minimumAddresses > 0 }

    /// Warm addresses of the family the ENI should hold once `adding` more attachments hold one: `warmAddresses`,
    /// or what `minimumAddresses` still asks beyond the live ones, less what the pool already has.
    public func warmTarget(v4: Bool, eni: String, _ ledger: RegistrationStore, adding: Int) throws -> Int {
        var live = adding
        for name in try FileIO.list(ledger.ledgerDir) {
            guard let e = try FileIO.read("\(ledger.ledgerDir)/\(name)").flatMap(RegistrationEntry.init), e.eni == eni else { continue }
            live += e.addresses.filter { $0.isV4 == v4 }.count
        }
        let have = try ledger.warm(eni: eni).filter { $0.address.isV4 == v4 }.count
        return max(0, max(config.warmAddresses, config.minimumAddresses - live) - have)
    }

    /// An address of the family from the ENI's warm pool, else one whose cooldown is over (a deferred release
    /// still queued), among those IMDS shows on the ENI (`onENI`), recorded for `key` and taken out of the pool or
    /// queue under the ledger's lock. An address a live entry already holds (a crash between the two writes) is
    /// never handed out; one IMDS does not show (a refill still landing, or gone) is left for later.
    public func takeWarm(v4: Bool, _ r: SelectedENI, _ ledger: RegistrationStore, key: AttachmentKey,
                  holding: [IPAddress], pod: String, now: Int64, onENI: Set<IPAddress>) throws -> IPAddress? {
        try ledger.locked { () throws -> IPAddress? in
            let live = try ledger.liveAddresses()
            if let w = try ledger.warm(eni: r.described.id).first(where: {
                $0.address.isV4 == v4 && !live.contains($0.address) && onENI.contains($0.address)
            }) {
                try ledger.record(key, .init(eni: r.described.id, addresses: holding + [w.address], pod: pod, mac: r.attached.mac))
                try FileIO.remove(w.path, .durable)
                return w.address
            }
            let cooled = try ledger.coolingQueued(eni: r.described.id).filter {
                $0.address.isV4 == v4 && $0.notBefore <= now && !live.contains($0.address) && onENI.contains($0.address)
            }
            guard let pick = cooled.min(by: { $0.notBefore < $1.notBefore }) else { return nil }
            try ledger.record(key, .init(eni: r.described.id, addresses: holding + [pick.address], pod: pod, mac: r.attached.mac))
            try ledger.unqueue(pick.address, at: pick.path)
            return pick.address
        }
    }

    /// A cooling address of the family on this ENI (a deferred release still queued, still in IMDS, held by no
    /// live attachment), recorded for `key` and taken out of the queue in one step under the ledger's lock, so a
    /// drain running at the same time either released it before (then it is no longer queued) or sees it live.
    /// Returns it and the end of its cooldown; nil when there is none.
    public func reclaimCooling(v4: Bool, _ r: SelectedENI, _ ledger: RegistrationStore, key: AttachmentKey,
                        holding: [IPAddress], pod: String) throws -> (IPAddress, Int64)? {
        let onENI = Set(try r.gateway.localAddresses(mac: r.attached.mac))
        return try ledger.locked { () throws -> (IPAddress, Int64)? in
            let live = try ledger.liveAddresses()
            let candidates = try ledger.coolingQueued(eni: r.described.id).filter {
                $0.address.isV4 == v4 && onENI.contains($0.address) && !live.contains($0.address)
            }
            guard let pick = candidates.min(by: { $0.notBefore < $1.notBefore }) else { return nil }
            try ledger.record(key, .init(eni: r.described.id, addresses: holding + [pick.address], pod: pod, mac: r.attached.mac))
            try ledger.unqueue(pick.address, at: pick.path)
            return (pick.address, pick.notBefore)
        }
    }

    public func check(_ inv: some EC2IPAMContext, prev: CNIResult) throws {
        let ledger = RegistrationStore(NodeStateLayout(dataDir: config.dataDir).network(network))
        guard let e = try ledger.entry(inv.key), !e.addresses.isEmpty else {
            throw IPAMError.checkFailed("no EC2 address is recorded for \(inv.key) in network \(network)")
        }
        let prevSet = Set(prev.ips.map(\.address.address))
        if !Set(e.addresses).isSubset(of: prevSet) {
            throw IPAMError.checkFailed("prevResult lists \(prev.ips.map(\.address.address.description)) but \(inv.key) holds \(e.addresses.map(\.description))")
        }
    }

    /// STATUS: the ENI has no free address slot for a family we need, and no address of it is cooling down on the
    /// ENI (ADD would take that one back).
    public func unavailability(_ inv: some EC2IPAMContext) throws -> String? {
        guard let r = inv.registration else { return nil }
        let ledger = RegistrationStore(NodeStateLayout(dataDir: config.dataDir).network(network))
        for fam in config.families {
            let slots = try addressSlots(r, fam, dataDir: config.dataDir)
            // The release queue and the warm pool are read only when the ENI is full.
            if slots.used >= slots.cap,
               !(try ledger.coolingQueued(eni: r.described.id)).contains(where: { $0.address.isV4 == fam.isV4 }),
               !(try ledger.warm(eni: r.described.id)).contains(where: { $0.address.isV4 == fam.isV4 }) {
                return "\(r.described.id) is full: \(slots.used) of \(slots.cap) \(fam.label) address slots of \(slots.instanceType) are in use"
            }
        }
        return nil
    }
}

// MARK: - mode "prefix"

/// The node holds /28 IPv4 and /80 IPv6 prefixes on the ENI and allocates from them with the ranges allocator
/// (one range per prefix, in the ENI subnet, so results carry the subnet's length and gateway). Steady-state ADD
/// and DEL make no EC2 call: a prefix is requested only when every held one is full (or below the warm minimum),
/// up to the instance type's per-ENI limit, and returned once it has been empty for `prefixReleaseSeconds`.
///
/// `<dataDir>/<network>/ec2/prefixes` lists the held prefixes (`p=<cidr> eni=<id> empty=<since>`), written right
/// after EC2 assigned them; every change happens under `ec2/prefix.lock`, taken before the ranges store's lock.
public struct PrefixPool {
    public let config: IPAMConfig
    public let network: String
    public let now: @Sendable () -> Int64
    public var failpoint: @Sendable (String) -> Void = { _ in }

    public init(config: IPAMConfig, network: String, now: @escaping @Sendable () -> Int64,
                failpoint: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config; self.network = network; self.now = now; self.failpoint = failpoint
    }

    public typealias Held = HeldPrefix

    public var state: NetworkState { NodeStateLayout(dataDir: config.dataDir).network(network) }
    public var root: String { state.root }
    public var statePath: String { state.prefixes }

    public func withLock<R>(_ body: () throws -> R) throws -> R {
        try FileIO.makeDirectories(state.ec2)
        let lock = try DirectoryLock(path: state.prefixLock)
        defer { lock.hold() }
        return try body()
    }

    public func load() throws -> [Held] { HeldPrefix.decode(try FileIO.read(statePath) ?? []) }

    public func save(_ held: [Held]) throws {
        try FileIO.writeAtomically(statePath, HeldPrefix.encode(held), .durable)
    }

    /// The ranges allocator over the prefixes held on `eni` (no ranges: enough for release and GC).
    public func allocator(_ held: [Held], eni: String?, subnets: ENISubnets?) throws -> RangeAllocator {
        var sets: [RangeSet] = []
        if let eni, let subnets {
            for fam in config.families {
                let sub = try subnets.subnet(v4: fam.isV4, eni: eni)
                let gw = ENISubnets.gateway(sub, config)
                sets.append(RangeSet(ranges: held.filter { $0.eni == eni && $0.prefix.address.isV4 == fam.isV4 }.map {
                    IPRange(subnet: sub, rangeStart: $0.prefix.networkAddress, rangeEnd: $0.prefix.lastAddress, gateway: gw)
                }))
            }
        }
        return RangeAllocator(config: IPAMConfig(mode: .prefix, rangeSets: sets, routes: config.routes,
                                                 dataDir: config.dataDir, cooldownSeconds: config.cooldownSeconds,
                                                 families: config.families),
                              network: network, now: now, failpoint: failpoint)
    }

    public func add(_ inv: some EC2IPAMContext, interface: Int?) throws -> CNIResult {
        guard let r = inv.registration else { throw RegistrationError.needsENI(mode: config.mode.rawValue) }
        return try withLock {
            var held = try load()
            let subnets = try ENISubnets(r.gateway, mac: r.attached.mac)
            for fam in config.families {
                _ = try subnets.subnet(v4: fam.isV4, eni: r.described.id)
                if !held.contains(where: { $0.eni == r.described.id && $0.prefix.address.isV4 == fam.isV4 }) {
                    try grow(&held, fam, count: 1, r)
                }
            }
            let requested = inv.requestedIPs
            // A free address of a held prefix; else another prefix from EC2; only when EC2 gives none (the ENI is
            // full, or EC2 fails now) a cooling address: the cooldown is a preference, never a cause of failure.
            var got: [CNIResult.IPConfig]?
            var growError: (any Error)?
            for _ in 0..<3 where got == nil && growError == nil {
                do {
                    got = try allocator(held, eni: r.described.id, subnets: subnets)
                        .allocate(inv.key, requested: requested, allowCooling: false)
                } catch IPAMError.exhausted(let si, _) {
                    do { try grow(&held, config.families[si], count: 1, r) } catch { growError = error }
                }
            }
            if got == nil {
                do {
                    got = try allocator(held, eni: r.described.id, subnets: subnets)
                        .allocate(inv.key, requested: requested, reusedCooling: inv.logCoolingReuse(_:until:))
                } catch IPAMError.exhausted(_, _) where growError != nil {
                    throw growError!
                }
            }
            let ips = got!
            failpoint("add.prefix.after-allocate")
            let addresses = ips.map(\.address.address)
            for i in held.indices where addresses.contains(where: { held[i].prefix.contains($0) }) { held[i].emptySince = 0 }
            try save(held)
            // Warm minimum: top up in one call, best effort (the ADD itself has succeeded).
            if config.warmAddresses > 0 {
                let free = freeAddresses(held, eni: r.described.id, v4: true, used: try usedAddresses())
                if free < config.warmAddresses {
                    let n = (config.warmAddresses - free + 15) / 16
                    do { try grow(&held, .ipv4, count: n, r) } catch {
                        inv.info("warm pool top-up of \(n) prefix(es) failed: \(error)")
                    }
                }
            }
            return CNIResult(ips: ips.map { var c = $0; c.interface = interface; return c }, routes: config.routes)
        }
    }

    /// Asks EC2 for `count` prefixes of the family on the ENI (fewer if the ENI's limit is near), records them.
    public func grow(_ held: inout [Held], _ fam: IPAMConfig.Family, count: Int, _ r: SelectedENI) throws {
        let (used, cap, type) = try addressSlots(r, fam, dataDir: config.dataDir)
        let n = min(count, cap - used)
        guard n > 0 else {
            throw RegistrationError.eniFull("every held \(fam.label) prefix is full and \(r.described.id) has no slot for another: \(used) of \(cap) \(fam.label) address slots of \(type) are in use")
        }
        let got = try r.gateway.assignPrefixes(count: n, v4: fam.isV4, to: r.described.id)
        failpoint("add.prefix.after-grow-assign")
        let t = now()
        held += got.map { Held(prefix: $0, eni: r.described.id, emptySince: t) }
        try save(held)
        failpoint("add.prefix.after-grow-save")
    }

    /// Addresses reserved, per the ranges store.
    public func reservedAddresses() throws -> [IPAddress] {
        try FileIO.list(allocator([], eni: nil, subnets: nil).root + "/ips").compactMap { IPAddress($0) }
    }

    /// Addresses reserved or cooling, per the ranges store (what the warm minimum and the return of empty prefixes
    /// count as held).
    public func usedAddresses() throws -> [IPAddress] {
        try reservedAddresses() + allocator([], eni: nil, subnets: nil).coolingAddresses()
    }

    /// Free addresses in the family's prefixes held on `eni`, given the store's `used` addresses (read once by the
    /// caller: `usedAddresses()` lists directories).
    public func freeAddresses(_ held: [Held], eni: String, v4: Bool, used: [IPAddress]) -> Int {
        let mine = held.filter { $0.eni == eni && $0.prefix.address.isV4 == v4 }
        let used = used.filter { a in mine.contains { $0.prefix.contains(a) } }.count
        let cap = mine.reduce(0) { acc, h in
            let bits = h.prefix.address.bitWidth - h.prefix.length
            return acc + (bits >= 20 ? 1 << 20 : 1 << bits)
        }
        return cap - used
    }

    public func release(_ inv: some EC2IPAMContext, cooldown: Cooldown = .apply) throws {
        guard FileIO.exists(root) else { return }
        try withLock { try allocator([], eni: nil, subnets: nil).release(inv.key, cooldown: cooldown) }
        failpoint("del.prefix.after-release")
        try returnEmpty(inv)
    }

    /// Marks prefixes that hold nothing (cooling addresses count as held) and returns to EC2 those empty for
    /// `prefixReleaseSeconds`, keeping the warm minimum. EC2 is reached only when one is due.
    public func returnEmpty(_ inv: some EC2IPAMContext) throws {
        try withLock {
            var held = try load()
            guard !held.isEmpty else { return }
            let used = try usedAddresses()
            let t = now()
            for i in held.indices {
                if used.contains(where: { held[i].prefix.contains($0) }) { held[i].emptySince = 0 }
                else if held[i].emptySince == 0 { held[i].emptySince = t }
            }
            var due = held.filter { $0.emptySince > 0 && t - $0.emptySince >= Int64(config.prefixReleaseSeconds) }
            if config.warmAddresses > 0 {
                // Keep enough empty IPv4 prefixes for the warm minimum (the oldest go first).
                due.sort { $0.emptySince < $1.emptySince }
                while let last = due.last(where: { $0.prefix.address.isV4 }) {
                    let remaining = held.filter { h in !due.contains(h) }
                    let free = freeAddresses(remaining, eni: last.eni, v4: true, used: used)
                    if free >= config.warmAddresses { break }
                    due.removeAll { $0 == last }
                }
            }
            if !due.isEmpty {
                let reg = try inv.gateway(seconds: 5)
                // Forgotten first, then unassigned: a process killed in between (or an unassign that fails, or whose
                // answer is lost) leaves an unrecorded prefix on the ENI, which the reconcile returns. The other
                // order could leave a recorded prefix that EC2 no longer holds, and ADD would hand out its
                // addresses (EC2 does not route them to the ENI); its unassign would fail for ever.
                held.removeAll { due.contains($0) }
                try save(held)
                failpoint("del.prefix.after-forget")
                for eni in Set(due.map(\.eni)).sorted() where !inv.mutant(Mutants.prefixSkipsReturn) {
                    let these = due.filter { $0.eni == eni }
                    do {
                        try reg.unassign(prefixes: these.map(\.prefix), from: eni)
                        failpoint("del.prefix.after-return")
                    } catch {
                        inv.info("returning prefixes \(these.map(\.prefix.description)) to EC2 failed (the reconcile returns them): \(error)")
                    }
                }
            }
            try save(held)
        }
    }

    public func check(_ inv: some EC2IPAMContext, prev: CNIResult) throws {
        guard let r = inv.registration else { throw RegistrationError.needsENI(mode: config.mode.rawValue) }
        let held = try load()
        try allocator(held, eni: r.described.id, subnets: try ENISubnets(r.gateway, mac: r.attached.mac))
            .check(inv.key, expected: prev.ips.map(\.address.address))
    }

    public func gc(_ inv: some EC2IPAMContext, valid: Set<AttachmentKey>) -> [any Error] {
        var errors: [any Error] = []
        do {
            try withLock { errors += try allocator([], eni: nil, subnets: nil).collectGarbage(valid: valid) as [any Error] }
            try returnEmpty(inv)
        } catch { errors.append(error) }
        return errors
    }

    /// STATUS: every address of the held prefixes is reserved (cooling ones count as free: ADD reuses them when
    /// nothing else is free) and the ENI has no slot for another prefix.
    public func unavailability(_ inv: some EC2IPAMContext) throws -> String? {
        guard let r = inv.registration else { return nil }
        let held = try load()
        let used = try reservedAddresses()
        for fam in config.families where freeAddresses(held, eni: r.described.id, v4: fam.isV4, used: used) <= 0 {
            let slots = try addressSlots(r, fam, dataDir: config.dataDir)
            if slots.used >= slots.cap {
                return "every held \(fam.label) prefix on \(r.described.id) is full and the ENI has no slot for another (\(slots.used) of \(slots.cap) for \(slots.instanceType))"
            }
        }
        return nil
    }
}
