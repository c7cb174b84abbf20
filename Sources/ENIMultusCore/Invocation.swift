#if canImport(Glibc)
import Glibc
#endif
import Platform
import AgentProtocol
import CNI
import IPAM
import JSON
import NetTypes
import Netlink
import NodeState
import Registration
import ENIAddressing

/// One ADD/DEL/CHECK/STATUS/GC with its decoded inputs.
struct Invocation {
    let env: PluginEnvironment
    let cni: CNIEnvironment
    let conf: NetConf
    let version: CNIVersion
    let log: EventLog
    /// The network's IPAM, decoded once (DEL tolerates an unusable IPAM section; the other verbs do not).
    let addressManager: Result<AddressManager, any Error>
    /// The `eni` block (nil: no EC2 registration on this network).
    let ec2Config: Result<EC2NetworkConfig?, any Error>
    /// Set on ADD once the ENI is selected: where the addresses get registered.
    var registration: SelectedENI?
    /// The node link the verb takes: the config's, or the selected ENI's (`withSelectedENI`).
    var link: LinkSelector

    init(env: PluginEnvironment, cni: CNIEnvironment, conf: NetConf, version: CNIVersion, log: EventLog) {
        self.env = env
        self.cni = cni
        self.conf = conf
        self.version = version
        self.log = log
        link = LinkSelector(conf: conf)
        addressManager = Result {
            try AddressManager(conf: conf, cni: cni, defaultDataDir: env.paths.dataDir, wallClock: env.wallClock,
                               failpoint: { [env] in env.failpoint($0) })
        }
        ec2Config = Result { try EC2NetworkConfig.parse(conf.raw) }
    }

    /// EC2 and IMDS for this invocation: requests to the node agent (connected on first use), all of them within
    /// `seconds` from now (each asks the agent for what is left).
    func gateway(seconds: Double) throws -> EC2Gateway {
        if let make = env.gatewayFactory { return try make(seconds) }
        return AgentGateway(socket: agentSocket, timeout: seconds)
    }

    /// The node agent's socket: the config's `agentSocket`, else `ENI_MULTUS_AGENT_SOCKET`, else the default.
    var agentSocket: String {
        if case .success(let cfg?) = ec2Config, let s = cfg.agentSocket { return s }
        if let s = env.variables[PluginEnvironment.agentSocketVariable], s.hasPrefix("/") { return s }
        return AgentGateway.defaultSocket
    }

    func ec2Ledger(_ ipam: AddressManager) -> RegistrationStore { RegistrationStore(networkState(ipam)) }

    /// `namespace/name/uid` of the pod from CNI_ARGS, for the ledger.
    var podIdentity: String {
        ["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID"].map { cni.args[$0] ?? "" }.joined(separator: "/")
    }

    /// IPAM, then (on an EC2 network with IPAM that EC2 does not route by itself) the ledger entry and the EC2
    /// assignment; every step registers its undo.
    func acquireAddresses(_ ipam: AddressManager, interface: Int?, undo: UndoStack) throws -> CNIResult {
        let result = try ipam.add(self, interface: interface, undo: undo)
        env.failpoint("add.after-ipam")
        guard let r = registration, !ipam.isEC2Native else { return result }
        let addresses = result.ips.map(\.address.address)
        let ledger = ec2Ledger(ipam)
        try ledger.locked {
            try ledger.record(key, .init(eni: r.described.id, addresses: addresses, pod: podIdentity, mac: r.attached.mac))
        }
        env.failpoint("add.after-ledger-record")
        undo.push("forget the ledger entry") { try ledger.forget(self.key) }
        let added: [IPAddress]
        do {
            added = try register(addresses, on: r.described, mac: r.attached.mac, cfg: r.config, gateway: r.gateway,
                                 pause: { usleep(100_000) })
        } catch {
            // A failed assignment may still have been applied, or may land after we gave up (a timeout, a lost
            // answer), and the ledger entry goes with the rollback: queue the release of what was asked, due once
            // a late call has had the ADD's deadline again to land. The drain unassigns only what EC2 then shows
            // on the ENI and no live attachment holds; the entry carries no MAC, so the drain asks EC2 itself
            // (IMDS may not show an assignment that has just landed).
            try? ledger.enqueue(.init(eni: r.described.id, addresses: addresses,
                                      notBefore: now + Int64(r.config.timeoutSeconds.rounded(.up))),
                                unique: env.random())
            throw error
        }
        env.failpoint("add.after-ec2-register")
        pushUnassign(added, r, ledger, undo)
        return result
    }

    var now: Int64 { Int64(env.wallClock()) }

    /// Node-level records (verified ENIs, instance limits) beside the IPAM store.
    var nodeRecords: NodeRecords { NodeRecords(dataDir: (try? ipam())?.dataDir ?? env.paths.dataDir) }

    func ipam() throws -> AddressManager { try addressManager.get() }

    var key: AttachmentKey { AttachmentKey(containerID: cni.containerID, ifname: cni.ifname) }

    func add() throws -> CNIResult {
        if conf.role == .ipam { return try addAsIPAM() }
        if let mac = conf.runtimeMAC ?? cni.args.mac {
            // Honouring it silently wrong would be worse than refusing: an ipvlan slave always carries its master's
            // MAC, and EC2 fixes an ENI's MAC (traffic to a changed MAC is dropped).
            throw CNIError(.unsupportedField,
                           "a MAC address was requested (\(mac)), but \(conf.link.rawValue) interfaces keep the ENI's hardware address; remove the MAC request from the pod")
        }
        _ = try ipam()  // a bad IPAM section is a config error, reported before EC2 or IMDS is asked anything
        return try withSelectedENI(drainQueue: true).addSelected()
    }

    /// On an EC2 network: the invocation with the ENI chosen through IMDS and EC2 and the interface pointed at the
    /// node link with that MAC (never a guessed name). Elsewhere: self.
    func withSelectedENI(drainQueue: Bool = false, describe: ENIDescribe = .cached) throws -> Invocation {
        var inv = self
        if let ec2 = try ec2Config.get() {
            let reg = try gateway(seconds: ec2.timeoutSeconds)
            if drainQueue, let ledger = try? ec2Ledger(self.ipam()), let (due, oldest) = try? ledger.dueSummary(now: now),
               due >= 8 || (due > 0 && now - oldest >= 30) {
                // Batched: one unassign per ENI for many due releases, not one per DEL.
                _ = try? ledger.drain(limit: 64, now: now, gateway: reg, keepWarm: (try? self.ipam())?.keepWarm ?? 0)
            }
            let (local, remote) = try selectENI(ec2, gateway: reg, cache: nodeRecords.verifiedENIs, describe: describe)
            inv.registration = SelectedENI(config: ec2, gateway: reg, attached: local, described: remote)
            inv.link = LinkSelector(eniMAC: local.mac)
        }
        return inv
    }

    /// IPAM role: the addresses (registered on the ENI when the config has an `eni` block) and routes for the
    /// calling plugin, which creates the interface; `ips[].interface` is left for it to set. A MAC request is the
    /// calling plugin's business.
    private func addAsIPAM() throws -> CNIResult {
        let ipam = try ipam()
        let inv = try withSelectedENI(drainQueue: true)
        return try UndoStack.run(failed: { log.write(.error, $0) }) { undo in
            let result = try inv.acquireAddresses(ipam, interface: nil, undo: undo)
            return result
        }
    }

    private func addSelected() throws -> CNIResult {
        let ipam = try ipam()
        return try conf.link.driver.add(self, ipam: ipam)
    }

    /// DEL is best effort and idempotent: addresses are released first and always (also when the netns is gone),
    /// then (plugin role) the interface is removed or returned. Every step runs even if an earlier one failed; the first
    /// failure is reported.
    func del() throws {
        var first: (any Error)?
        releaseRegistration()
        do {
            let ipam = try ipam()
            do { try ipam.del(self) } catch {
                log.write(.error, "IPAM release failed: \(error)")
                first = first ?? error
            }
            env.failpoint("del.after-ipam-release")
        } catch {
            // A config whose IPAM section is unusable cannot have allocated anything through it.
            log.write(.info, "IPAM not usable on DEL: \(error)")
        }
        do {
            if conf.role == .plugin { try conf.link.driver.del(self) }  // else the calling plugin removes its interface
        } catch {
            log.write(.error, "interface cleanup failed: \(error)")
            first = first ?? error
        }
        if let first { throw first }
    }

    /// DEL's EC2 half, before the IPAM release (so no new attachment can be handed the address while it is still
    /// being unassigned). Never fails: when EC2 cannot take the release now, it is queued durably.
    func releaseRegistration() {
        guard case .success(let cfg?) = ec2Config, let ipam = try? ipam() else { return }
        let ledger = ec2Ledger(ipam)
        do {
            guard var entry = try ledger.entry(key) else { return }
            // With a cooldown (ec2 mode), EC2 chose the address: it stays on our ENI through the cooldown (so EC2
            // cannot hand it to another pod at once) and is released in a batch by a later invocation, GC or the
            // node agent.
            let deferred = Int64(ipam.deferredReleaseSeconds)
            if deferred == 0, let pool = ipam.warmPool, entry.mac != nil {
                // The warm pool takes back what it lacks (confirmed addresses, no EC2 call); the rest is released.
                try ledger.locked {
                    // Already warm (a DEL that died after moving them): nothing to move or release.
                    let already = Set(try ledger.warm(eni: entry.eni).map(\.address))
                    entry.addresses.removeAll { already.contains($0) }
                    var warm: [IPAddress] = []
                    for v4 in [true, false] {
                        let want = try pool.warmTarget(v4: v4, eni: entry.eni, ledger, adding: -entry.addresses.filter { $0.isV4 == v4 }.count)
                        warm += entry.addresses.filter { $0.isV4 == v4 }.prefix(want)
                    }
                    try ledger.addWarm(warm, eni: entry.eni, mac: entry.mac)
                    entry.addresses.removeAll { warm.contains($0) }
                    if entry.addresses.isEmpty { try ledger.forget(key) } else { try ledger.record(key, entry) }
                }
                if entry.addresses.isEmpty {
                    env.failpoint("del.after-ledger-forget")
                    return
                }
            }
            try ledger.release(key, entry, deferSeconds: deferred, now: now, unique: env.random,
                               gateway: { try gateway(seconds: min(cfg.timeoutSeconds, 5)) },
                               queue: !env.mutant(Mutants.delSkipsQueue)) { step in
                switch step {
                case .queued(let error):
                    env.failpoint("del.after-ec2-queue")
                    if let error { log.write(.info, "EC2 release of \(entry.addresses.map(\.description)) queued: \(error)") }
                case .released(let reg):
                    env.failpoint("del.after-ec2-release")
                    _ = try? ledger.drain(limit: 16, now: now, gateway: reg, keepWarm: ipam.keepWarm)
                case .forgotten:
                    env.failpoint("del.after-ledger-forget")
                }
            }
        } catch {
            log.write(.error, "EC2 ledger: \(error)")
        }
    }

    func check() throws {
        guard let prevJSON = conf.prevResult else { throw CoreError.prevResultRequired("CHECK") }
        let prev = try CNIResult.decode(prevJSON)
        let ipam = try ipam()
        let inv = try withSelectedENI(describe: .again)
        if conf.role == .plugin { try conf.link.driver.check(inv, prev: prev) }  // else the calling plugin's to check
        try ipam.check(inv, prev: prev)
        if let r = inv.registration, ipam.mode != .prefix {
            // The addresses are still registered on the ENI, as the ledger says.
            guard let entry = try ec2Ledger(ipam).entry(key), entry.eni == r.described.id else {
                throw CoreError.checkFailed("no EC2 registration is recorded for \(key) on \(r.described.id)")
            }
            let missing = entry.addresses.filter { !(r.described.ipv4 + r.described.ipv6).contains($0) }
            if !missing.isEmpty {
                throw CoreError.checkFailed("\(missing.map(\.description).joined(separator: ", ")) no longer assigned to \(r.described.id)")
            }
        }
    }

    func status() throws {
        let ipam = try ipam()
        let inv: Invocation
        do { inv = try withSelectedENI() } catch {
            throw CNIError(.notAvailable, "the network's ENI cannot be used: \(cniError(for: error).msg)")
        }
        if let r = inv.registration {
            do { try r.gateway.checkCredentials() } catch {
                throw CNIError(.notAvailable, "no AWS credentials for EC2: \(cniError(for: error).msg)")
            }
        }
        do {
            if let why = try ipam.unavailability(inv) { throw CNIError(.notAvailable, why) }
        } catch let e as CNIError { throw e } catch {
            throw CNIError(.notAvailable, "IPAM cannot tell whether it can allocate: \(cniError(for: error).msg)")
        }
        guard conf.role == .plugin else { return }  // the calling plugin answers for its link
        try conf.link.driver.status(inv, host: try HostNamespace())
    }

    func gc() throws {
        let valid = Set((conf.validAttachments ?? []).map { AttachmentKey(containerID: $0.containerID, ifname: $0.ifname) })
        let ipam = try ipam()
        var errors: [any Error] = []
        if case .success(let cfg?) = ec2Config {
            // Registrations of attachments that no longer exist are released (or queued), then the queue drained.
            let ledger = ec2Ledger(ipam)
            do {
                let reg = try gateway(seconds: cfg.timeoutSeconds)
                let deferred = Int64(ipam.deferredReleaseSeconds)
                for name in try FileIO.list(ledger.ledgerDir) {
                    guard let k = AttachmentKey(fileName: name), !valid.contains(k) else { continue }
                    guard let entry = try ledger.entry(k) else {
                        try ledger.forget(k)  // torn: owns nothing (reconcile releases what EC2 holds for it)
                        continue
                    }
                    try ledger.release(k, entry, deferSeconds: deferred, now: now, unique: env.random, gateway: { reg })
                }
                try ledger.locked { try ledger.sweepTorn() }
                try ledger.drain(limit: 256, now: now, gateway: reg, keepWarm: ipam.keepWarm)
                // Node-local reconcile: addresses on our ENIs that no record of this node owns.
                let grace = ipam.isEC2Native ? ipam.builtinConfig?.reconcileGraceSeconds : nil
                if let grace {
                    let report = try Reconciler(dataDir: ipam.dataDir ?? env.paths.dataDir, gateway: reg, now: now,
                                                graceSeconds: grace).run()
                    log.write(.info, "reconcile: \(report)")
                }
            } catch { errors.append(error) }
        }
        errors += ipam.gc(self, valid: valid)
        if conf.role == .plugin { errors += conf.link.driver.gc(self, valid: valid) }
        for e in errors { log.write(.error, "GC: \(e)") }
        if let e = errors.first {
            throw CNIError(.ioFailure, "GC finished with \(errors.count) error(s); first: \(e)")
        }
    }

    /// Directory for the plugin's own records (host-device moves): the built-in IPAM's dataDir, else the default.
    /// This network's state directory (the IPAM's dataDir, else the plugin's).
    func networkState(_ ipam: AddressManager) -> NetworkState {
        NodeStateLayout(dataDir: ipam.dataDir ?? env.paths.dataDir).network(conf.name)
    }
}

/// Applies an IPAM result to an interface inside the pod namespace: sysctls (`arp_notify`/`ndisc_notify`: the kernel
/// announces the addresses on link-up), addresses, up, routes, then, with `announce` (the config's option), one
/// gratuitous ARP / unsolicited NA per address from the plugin after the link has carrier. Undo is the caller's
/// (removing or moving the link drops all of it).
func configureInterface(_ pod: PodNamespace, index: Int32, name: String, result: CNIResult, env: PluginEnvironment,
                        log: EventLog, announce: Bool) throws {
    let hasV4 = result.ips.contains { $0.address.address.isV4 }
    let hasV6 = result.ips.contains { !$0.address.address.isV4 }
    try pod.ns.run {
        if hasV4 { try Sysctl.write("net/ipv4/conf/\(name)/arp_notify", "1", root: env.paths.procSys) }
        if hasV6 { try Sysctl.write("net/ipv6/conf/\(name)/ndisc_notify", "1", root: env.paths.procSys) }
    }
    for ip in result.ips {
        // EC2 and the IPAM guarantee uniqueness; skipping DAD makes the address usable at once.
        try CoreError.step("add address \(ip.address) to \(name)") {
            try pod.sock.addAddress(ip.address, index: index, noDAD: !ip.address.address.isV4)
        }
        env.failpoint("add.after-address-add")
    }
    try CoreError.step("set \(name) up") { try pod.sock.setLink(index: index, LinkChange(up: true)) }
    env.failpoint("add.after-link-up")
    for r in result.routes {
        let gw = r.gw ?? result.ips.first { $0.address.address.isV4 == r.dst.address.isV4 }?.gateway
        let route = Route(destination: r.dst, gateway: gw, outputIndex: index,
                          table: r.table.map { UInt32($0) }, priority: r.priority.map { UInt32($0) },
                          scope: r.scope.map { UInt8($0) }, mtu: r.mtu.map { UInt32($0) },
                          advmss: r.advmss.map { UInt32($0) })
        try CoreError.step("add route \(r.dst)\(gw.map { " via \($0)" } ?? "") on \(name)") {
            try pod.sock.addRoute(route)
        }
        env.failpoint("add.after-route-add")
    }
    guard announce, var link = try pod.sock.link(index: index), let mac = link.hardwareAddress,
          link.flags & 0x80 == 0 /* IFF_NOARP */ else { return }
    // A frame sent before the kernel's link watch has activated the device's qdisc is dropped silently: wait
    // (bounded, 200 ms) until the link reports IFF_RUNNING. A device without carrier is announced anyway.
    var waited = 0
    while link.flags & 0x40 == 0 /* IFF_RUNNING */ && waited < 40 {
        usleep(5_000)
        waited += 1
        guard let l = try pod.sock.link(index: index) else { return }
        link = l
    }
    for ip in result.ips {
        do {
            try pod.ns.run {
                if ip.address.address.isV4 {
                    try Announce.gratuitousARP(index: index, hardwareAddress: mac, address: ip.address.address)
                } else {
                    try Announce.unsolicitedNA(index: index, hardwareAddress: mac, address: ip.address.address)
                }
            }
        } catch {
            log.write(.info, "announcing \(ip.address.address) on \(name) failed: \(error)")
        }
    }
}

extension Invocation: EC2IPAMContext {
    var requestedIPs: [RequestedIP] { conf.requestedIPs(cniArgs: cni.args) }
    func failpoint(_ name: String) { env.failpoint(name) }
    func mutant(_ name: String) -> Bool { env.mutant(name) }
    func random() -> UInt64 { env.random() }
    func info(_ message: String) { log.write(.info, message) }
}
