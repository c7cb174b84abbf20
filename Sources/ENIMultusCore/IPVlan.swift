import Platform
import CNI
import IPAM
import NetTypes
import Netlink
import NodeState

/// ipvlan on a secondary ENI: created under a temporary name directly in the pod netns, renamed, configured.
///
/// Why a temporary name: on the kernels EKS nodes run (5.10, 6.1), RTM_NEWLINK looks `IFLA_IFNAME` up in the
/// *caller's* netns even when `IFLA_NET_NS_FD` puts the new link elsewhere, so creating `eth0` for a pod would find
/// the node's own `eth0`. The temporary name is derived from the attachment (`temporaryName`), so the DEL that
/// follows an ADD killed between create and rename finds the link, and a retried ADD whose create clashes with it
/// removes it and creates again.
struct IPVlanDriver {
    let inv: Invocation
    let ipam: AddressManager

    /// Kinds that share their parent's MAC and therefore cannot be the master chosen by `masterMAC`.
    static let slaveKinds: Set<String> = ["ipvlan", "ipvtap"]

    static func findMaster(_ sel: LinkSelector, _ host: HostNamespace) throws -> Link {
        var byName: Link?
        if let name = sel.name {
            guard let l = try CoreError.step("look up master \"\(name)\"", { try host.sock.link(named: name) }) else {
                throw CoreError.masterNotFound("master \"\(name)\" does not exist in the node's network namespace")
            }
            byName = l
        }
        if let mac = sel.mac {
            let matches = try CoreError.step("list links", { try host.sock.links() })
                .filter { $0.hardwareAddress == mac && !slaveKinds.contains($0.kind ?? "") }
            if let n = byName {
                guard matches.contains(where: { $0.index == n.index }) else {
                    throw CoreError.ambiguous("master \"\(n.name)\" has hardware address \(n.hardwareAddress.map { "\($0)" } ?? "none"), not \(sel.macField) \(mac)")
                }
                return n
            }
            guard let first = matches.first else {
                throw CoreError.masterNotFound("no interface with \(sel.macField) \(mac) in the node's network namespace")
            }
            guard matches.count == 1 else {
                throw CoreError.ambiguous("\(sel.macField) \(mac) matches several interfaces: \(matches.map(\.name).joined(separator: ", "))")
            }
            return first
        }
        guard let byName else {
            throw CoreError.masterNotFound("ipvlan needs \"master\" (interface name) or \"masterMAC\" (hardware address)")
        }
        return byName
    }

    /// "emt" and 40 bits of an FNV-1a hash of the attachment key: 13 characters, fixed per attachment.
    static func temporaryName(_ key: AttachmentKey) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Array(key.containerID.utf8) + [0] + Array(key.ifname.utf8) {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(h & 0xff_ffff_ffff, radix: 16)
        return "emt" + String(repeating: "0", count: 10 - hex.count) + hex
    }

    /// Deletes an ipvlan link of this attachment left under its temporary name (an invocation killed between
    /// create and rename). Returns whether there was one.
    @discardableResult
    static func removeLeftover(_ key: AttachmentKey, pod: PodNamespace, log: EventLog) throws -> Bool {
        let tmp = temporaryName(key)
        guard let l = try pod.sock.link(named: tmp), l.kind == "ipvlan" else { return false }
        try CoreError.step("delete leftover ipvlan \(tmp)") { try pod.sock.deleteLink(index: l.index) }
        log.write(.info, "deleted ipvlan \(tmp), left by an interrupted ADD of \(key)")
        return true
    }

    static func modes(_ conf: NetConf) -> (IPVlanMode, IPVlanFlag) {
        let mode: IPVlanMode = conf.mode == .l2 ? .l2 : conf.mode == .l3 ? .l3 : .l3s
        let flag: IPVlanFlag = conf.flag == .bridge ? .bridge : conf.flag == .private ? .private_ : .vepa
        return (mode, flag)
    }

    func add() throws -> CNIResult {
        let conf = inv.conf, ifname = inv.cni.ifname
        let host = try HostNamespace()
        let master = try Self.findMaster(inv.link, host)
        if !conf.allowPrimary, try host.primaryIndices().contains(master.index) {
            throw CoreError.primaryRefused(field: "master", name: master.name)
        }
        let pod = try PodNamespace(path: inv.cni.netns)
        if try pod.sock.link(named: ifname) != nil {
            throw CoreError.ifnameExists(name: ifname, netns: inv.cni.netns)
        }

        return try UndoStack.run(failed: { inv.log.write(.error, $0) }) { undo in
            var result = try inv.acquireAddresses(ipam, interface: 0, undo: undo)

            let tmpName = Self.temporaryName(inv.key)
            let (mode, flag) = Self.modes(conf)
            var retried = false
            while true {
                do {
                    try CoreError.step("create ipvlan \(tmpName) on \(master.name) in \(inv.cni.netns)") {
                        try host.sock.createIPVlan(name: tmpName, parentIndex: master.index, mode: mode, flag: flag,
                                                   mtu: conf.mtu, namespaceFD: pod.ns.fd)
                    }
                    break
                } catch {
                    // An ADD of this attachment interrupted before its rename, with no DEL since, left its link
                    // under the name: removed, then created once more. Looked for only here, off the usual path.
                    guard !retried, try Self.removeLeftover(inv.key, pod: pod, log: inv.log) else { throw error }
                    retried = true
                }
            }
            undo.push("delete ipvlan \(tmpName)") {
                if let l = try pod.sock.link(named: tmpName) { try pod.sock.deleteLink(index: l.index) }
            }
            inv.env.failpoint("add.ipvlan.after-create")
            guard let created = try pod.sock.link(named: tmpName) else {
                throw CoreError.link(step: "find new ipvlan \(tmpName)", NetlinkError(errno: 19, operation: "lookup"))
            }
            try CoreError.step("rename \(tmpName) to \(ifname)") {
                try pod.sock.setLink(index: created.index, LinkChange(name: ifname))
            }
            inv.env.failpoint("add.ipvlan.after-rename")
            undo.push("delete ipvlan \(ifname)") {
                if let l = try pod.sock.link(index: created.index), l.kind == "ipvlan" {
                    try pod.sock.deleteLink(index: l.index)
                }
            }
            try configureInterface(pod, index: created.index, name: ifname, result: result, env: inv.env, log: inv.log,
                                   announce: inv.conf.announce && mode == .l2)
            let final = try pod.sock.link(index: created.index)
            result.interfaces = [CNIResult.Interface(
                name: ifname, mac: final?.hardwareAddress?.description, sandbox: inv.cni.netns,
                mtu: final.map { Int($0.mtu) })]
            inv.env.failpoint("add.before-result")
            return result
        }
    }

    static func del(_ inv: Invocation) throws {
        guard let pod = PodNamespace.ifPresent(inv.cni.netns) else { return }
        guard let l = try pod.sock.link(named: inv.cni.ifname) else {
            // An ADD killed before its rename left the link under the temporary name (never under both names).
            try removeLeftover(inv.key, pod: pod, log: inv.log)
            return
        }
        guard l.kind == "ipvlan" else {
            inv.log.write(.info, "DEL leaves \(inv.cni.ifname) alone: it is a \(l.kind ?? "device"), not an ipvlan link")
            return
        }
        try CoreError.step("delete ipvlan \(inv.cni.ifname)") { try pod.sock.deleteLink(index: l.index) }
    }

    static func check(_ inv: Invocation, prev: CNIResult) throws {
        let pod = try PodNamespace(path: inv.cni.netns)
        let (ifaceIndex, link) = try checkedInterface(inv, pod: pod, prev: prev)
        guard link.kind == "ipvlan" else {
            throw CoreError.checkFailed("\(link.name) is a \(link.kind ?? "device"), not an ipvlan link")
        }
        let (mode, _) = modes(inv.conf)
        if let m = link.ipvlanMode, m != mode {
            throw CoreError.checkFailed("\(link.name) is in ipvlan mode \(m), the config says \(inv.conf.mode.rawValue)")
        }
        let host = try HostNamespace()
        let master = try findMaster(inv.link, host)
        if let a = link.hardwareAddress, let b = master.hardwareAddress, a != b {
            throw CoreError.checkFailed("\(link.name) has hardware address \(a), master \(master.name) has \(b)")
        }
        try checkAddressesAndRoutes(pod: pod, link: link, resultIndex: ifaceIndex, prev: prev)
    }
}

/// CHECK helpers shared by both drivers: the prevResult's interface exists with its MAC, and its addresses and
/// routes are present (anything added by later plugins is tolerated).
func checkedInterface(_ inv: Invocation, pod: PodNamespace, prev: CNIResult) throws -> (Int, Link) {
    guard let idx = prev.interfaces.firstIndex(where: {
        $0.name == inv.cni.ifname && ($0.sandbox == nil || $0.sandbox == inv.cni.netns)
    }) else {
        throw CoreError.checkFailed("prevResult has no interface \(inv.cni.ifname) in sandbox \(inv.cni.netns)")
    }
    guard let link = try pod.sock.link(named: inv.cni.ifname) else {
        throw CoreError.checkFailed("interface \(inv.cni.ifname) does not exist in \(inv.cni.netns)")
    }
    if let m = prev.interfaces[idx].mac, !m.isEmpty {
        guard let want = MACAddress(m), link.hardwareAddress == want else {
            throw CoreError.checkFailed("\(link.name) has hardware address \(link.hardwareAddress.map { "\($0)" } ?? "none"), prevResult says \(m)")
        }
    }
    return (idx, link)
}

func checkAddressesAndRoutes(pod: PodNamespace, link: Link, resultIndex: Int, prev: CNIResult) throws {
    let have = Set(try pod.sock.addresses(index: link.index).map(\.prefix))
    for ip in prev.ips where ip.interface == nil || ip.interface == resultIndex {
        guard have.contains(ip.address) else {
            throw CoreError.checkFailed("address \(ip.address) is missing on \(link.name)")
        }
    }
    var tables: [UInt32?: [Route]] = [:]
    for r in prev.routes {
        let t = r.table.map { UInt32($0) }
        if tables[t] == nil { tables[t] = try pod.sock.routes(table: t) }
        let found = tables[t]!.contains { $0.destination == r.dst && (r.gw == nil || $0.gateway == r.gw) }
        guard found else {
            throw CoreError.checkFailed("route to \(r.dst)\(r.gw.map { " via \($0)" } ?? "") is missing in \(pod.path)")
        }
    }
}
