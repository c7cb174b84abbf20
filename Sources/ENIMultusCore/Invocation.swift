import CNI
import IPAM
import JSON
import NetTypes
import Netlink

/// One ADD/DEL/CHECK/STATUS/GC with its decoded inputs.
struct Invocation {
    let env: PluginEnvironment
    let cni: CNIEnvironment
    let conf: NetConf
    let version: CNIVersion
    let log: EventLog
    /// The network's IPAM, decoded once (DEL tolerates an unusable IPAM section; the other verbs do not).
    let addressManager: Result<AddressManager, any Error>

    init(env: PluginEnvironment, cni: CNIEnvironment, conf: NetConf, version: CNIVersion, log: EventLog) {
        self.env = env
        self.cni = cni
        self.conf = conf
        self.version = version
        self.log = log
        addressManager = Result { try AddressManager(conf: conf, cni: cni, defaultDataDir: env.paths.dataDir) }
    }

    func ipam() throws -> AddressManager { try addressManager.get() }

    var key: AttachmentKey { AttachmentKey(containerID: cni.containerID, ifname: cni.ifname) }

    func add() throws -> CNIResult {
        if let mac = conf.runtimeMAC ?? cni.args.mac {
            // Honouring it silently wrong would be worse than refusing: an ipvlan slave always carries its master's
            // MAC, and EC2 fixes an ENI's MAC (traffic to a changed MAC is dropped).
            throw CNIError(.unsupportedField,
                           "a MAC address was requested (\(mac)), but \(conf.link.rawValue) interfaces keep the ENI's hardware address; remove the MAC request from the pod")
        }
        let ipam = try ipam()
        switch conf.link {
        case .ipvlan: return try IPVlanDriver(inv: self, ipam: ipam).add()
        case .hostDevice: return try HostDeviceDriver(inv: self, ipam: ipam).add()
        }
    }

    /// DEL is best effort and idempotent: addresses are released first and always (also when the netns is gone),
    /// then the interface is removed or returned. Every step runs even if an earlier one failed; the first
    /// failure is reported.
    func del() throws {
        var first: (any Error)?
        do {
            let ipam = try ipam()
            do { try ipam.del(self) } catch {
                log.write(.error, "IPAM release failed: \(error)")
                first = first ?? error
            }
        } catch {
            // A config whose IPAM section is unusable cannot have allocated anything through it.
            log.write(.info, "IPAM not usable on DEL: \(error)")
        }
        do {
            switch conf.link {
            case .ipvlan: try IPVlanDriver.del(self)
            case .hostDevice: try HostDeviceDriver.del(self)
            }
        } catch {
            log.write(.error, "interface cleanup failed: \(error)")
            first = first ?? error
        }
        if let first { throw first }
    }

    func check() throws {
        guard let prevJSON = conf.prevResult else { throw CoreError.prevResultRequired("CHECK") }
        let prev = try CNIResult.decode(prevJSON)
        let ipam = try ipam()
        switch conf.link {
        case .ipvlan: try IPVlanDriver.check(self, prev: prev)
        case .hostDevice: try HostDeviceDriver.check(self, prev: prev)
        }
        try ipam.check(self, prev: prev)
    }

    func status() throws {
        let ipam = try ipam()
        if let why = try ipam.unavailability(self) { throw CNIError(.notAvailable, why) }
        let host = try HostNamespace()
        switch conf.link {
        case .ipvlan:
            do { _ = try IPVlanDriver.findMaster(conf, host) } catch {
                throw CNIError(.notAvailable, "ipvlan master unavailable: \(error)")
            }
        case .hostDevice:
            break  // the device is in some pod's netns while in use: its absence here says nothing
        }
    }

    func gc() throws {
        let valid = Set((conf.validAttachments ?? []).map { AttachmentKey(containerID: $0.containerID, ifname: $0.ifname) })
        let ipam = try ipam()
        var errors = ipam.gc(self, valid: valid)
        if conf.link == .hostDevice {
            errors += HostDeviceDriver.gc(self, valid: valid)
        }
        for e in errors { log.write(.error, "GC: \(e)") }
        if let e = errors.first {
            throw CNIError(.ioFailure, "GC finished with \(errors.count) error(s); first: \(e)")
        }
    }

    /// Directory for the plugin's own records (host-device moves): the built-in IPAM's dataDir, else the default.
    func recordDirectory(_ ipam: AddressManager) -> String {
        "\(ipam.dataDir ?? env.paths.dataDir)/\(conf.name)"
    }
}

/// Applies an IPAM result to an interface inside the pod namespace: sysctls, addresses, up, routes, then one
/// gratuitous ARP / unsolicited NA per address. Undo is the caller's (removing or moving the link drops all of it).
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
    }
    try CoreError.step("set \(name) up") { try pod.sock.setLink(index: index, LinkChange(up: true)) }
    for r in result.routes {
        let gw = r.gw ?? result.ips.first { $0.address.address.isV4 == r.dst.address.isV4 }?.gateway
        let route = Route(destination: r.dst, gateway: gw, outputIndex: index,
                          table: r.table.map { UInt32($0) }, priority: r.priority.map { UInt32($0) },
                          scope: r.scope.map { UInt8($0) }, mtu: r.mtu.map { UInt32($0) },
                          advmss: r.advmss.map { UInt32($0) })
        try CoreError.step("add route \(r.dst)\(gw.map { " via \($0)" } ?? "") on \(name)") {
            try pod.sock.addRoute(route)
        }
    }
    guard announce, let link = try pod.sock.link(index: index), let mac = link.hardwareAddress,
          link.flags & 0x80 == 0 /* IFF_NOARP */ else { return }
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
