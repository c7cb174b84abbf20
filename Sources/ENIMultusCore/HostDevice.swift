#if canImport(Glibc)
import Glibc
#endif
import Platform
import CNI
import IPAM
import NetTypes
import Netlink
import NodeState

/// host-device: the ENI itself moved into the pod with one `RTM_NEWLINK` (netns, new name and `IFLA_IFALIAS` = the
/// original name, applied by the kernel under one rtnl_lock); DEL brings it back the same way, also when the pod
/// netns is already gone.
struct HostDeviceDriver {
    let inv: Invocation
    let ipam: AddressManager

    /// Drivers that mean the device belongs to a userspace (DPDK) application: it is not moved.
    static let dpdkDrivers: Set<String> = ["vfio-pci", "uio_pci_generic", "igb_uio"]

    /// What the plugin remembers about a moved device: its name and MAC in the node's netns.
    typealias Record = LinkRecord

    static func recordPath(_ inv: Invocation, _ ipam: AddressManager, _ key: AttachmentKey) -> String {
        inv.networkState(ipam).link(key)
    }

    /// The device the config selects, or its PCI address when a DPDK driver holds it.
    enum Selection {
        case link(Link, pciID: String?)
        case dpdk(pciID: String)
    }

    static func select(_ inv: Invocation, _ host: HostNamespace) throws -> Selection {
        let sel = inv.link, sys = inv.env.paths.sys
        func netName(under dir: String, what: String) throws -> String {
            let names = (try? FileIO.list(dir + "/net")) ?? []
            guard names.count == 1 else {
                throw CoreError.deviceNotFound(names.isEmpty
                    ? "\(what) has no network interface in the node's network namespace (\(dir)/net is empty or missing)"
                    : "\(what) has several network interfaces: \(names.sorted().joined(separator: ", "))")
            }
            return names[0]
        }
        func byName(_ name: String, _ what: String) throws -> Link {
            guard let l = try CoreError.step("look up \(name)", { try host.sock.link(named: name) }) else {
                throw CoreError.deviceNotFound("\(what) \"\(name)\" does not exist in the node's network namespace")
            }
            return l
        }
        if let pci = sel.pciID {
            let field = sel.pciField
            let dir = "\(sys)/bus/pci/devices/\(pci)"
            guard FileIO.exists(dir) else { throw CoreError.deviceNotFound("\(field) \(pci): no such PCI device") }
            if let driver = readLinkBase("\(dir)/driver"), dpdkDrivers.contains(driver) { return .dpdk(pciID: pci) }
            return .link(try byName(try netName(under: dir, what: "\(field) \(pci)"), field), pciID: pci)
        }
        if let kp = sel.kernelpath {
            let l = try byName(try netName(under: kp, what: "kernelpath \(kp)"), "kernelpath")
            return .link(l, pciID: pciID(of: l.name, sys: sys))
        }
        if let d = sel.name {
            let l = try byName(d, "device")
            return .link(l, pciID: pciID(of: l.name, sys: sys))
        }
        if let mac = sel.mac {
            let matches = try host.sock.links().filter { $0.hardwareAddress == mac && !IPVlanDriver.slaveKinds.contains($0.kind ?? "") }
            guard let l = matches.first else {
                throw CoreError.deviceNotFound("no interface with \(sel.macField) \(mac) in the node's network namespace")
            }
            guard matches.count == 1 else {
                throw CoreError.ambiguous("\(sel.macField) \(mac) matches several interfaces: \(matches.map(\.name).joined(separator: ", "))")
            }
            return .link(l, pciID: pciID(of: l.name, sys: sys))
        }
        throw CNIError(.invalidConfig, "host-device needs one of device, hwaddr, kernelpath, pciBusID or runtimeConfig.deviceID")
    }

    static func readLinkBase(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let s = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return s.split(separator: "/").last.map(String.init)
    }

    /// The PCI address behind a netdev, if it is a PCI device.
    static func pciID(of name: String, sys: String) -> String? {
        guard let base = readLinkBase("\(sys)/class/net/\(name)/device"), NetConf.isPCIAddress(base) else { return nil }
        return base
    }

    func add() throws -> CNIResult {
        let ifname = inv.cni.ifname
        let host = try HostNamespace()
        let selection = try Self.select(inv, host)
        let pod = try PodNamespace(path: inv.cni.netns)
        if try pod.sock.link(named: ifname) != nil {
            throw CoreError.ifnameExists(name: ifname, netns: inv.cni.netns)
        }
        guard case .link(let dev, let pci) = selection else {
            // DPDK: the application drives the device; reserve and report addresses, move nothing.
            guard case .dpdk(let pci) = selection else { fatalError() }
            return try UndoStack.run(failed: { inv.log.write(.error, $0) }) { undo in
                var result = try inv.acquireAddresses(ipam, interface: 0, undo: undo)
                result.interfaces = [CNIResult.Interface(name: ifname, sandbox: inv.cni.netns, pciID: pci)]
                return result
            }
        }
        if !inv.conf.allowPrimary, try host.primaryIndices().contains(dev.index) {
            throw CoreError.primaryRefused(field: "device", name: dev.name)
        }

        return try UndoStack.run(failed: { inv.log.write(.error, $0) }) { undo in
            var result = try inv.acquireAddresses(ipam, interface: 0, undo: undo)
            let recordPath = Self.recordPath(inv, ipam, inv.key)
            let record = Record(name: dev.name, mac: dev.hardwareAddress)
            try FileIO.makeDirectories(inv.networkState(ipam).links)
            try FileIO.writeAtomically(recordPath, record.bytes, .hint)
            undo.push("remove link record") { try FileIO.remove(recordPath, .hint) }
            inv.env.failpoint("add.hd.after-link-record")

            // One message: the kernel moves the device (closing it; should its name be taken in the pod it arrives
            // as `ifname` directly), then renames it and sets the alias. Each netns move costs the kernel RCU grace
            // periods (15-20 ms), so this is the cycle's largest cost; a temporary netns would double it. Should the
            // rename or the alias be refused after the move, the device sits in the pod under its own name: the
            // undo, registered first, finds it there by name and MAC.
            undo.push("return \(dev.name) to the node") {
                try Self.returnAfterFailedAdd(record: record, ifname: ifname, pod: pod, host: host)
            }
            try CoreError.step("move \(dev.name) into \(inv.cni.netns) as \(ifname)") {
                try host.sock.setLink(index: dev.index, LinkChange(name: ifname, namespaceFD: pod.ns.fd, alias: dev.name))
            }
            inv.env.failpoint("add.hd.after-move-into-netns")
            guard let inPod = try pod.sock.link(named: ifname) else {
                throw CoreError.deviceNotFound("\(ifname) vanished while moving it into \(inv.cni.netns)")
            }
            if let mtu = inv.conf.mtu {
                try CoreError.step("set mtu \(mtu) on \(ifname)") { try pod.sock.setLink(index: inPod.index, LinkChange(mtu: mtu)) }
            }
            try configureInterface(pod, index: inPod.index, name: ifname, result: result, env: inv.env, log: inv.log,
                                   announce: inv.conf.announce)
            let final = try pod.sock.link(index: inPod.index)
            result.interfaces = [CNIResult.Interface(
                name: ifname, mac: final?.hardwareAddress?.description, sandbox: inv.cni.netns,
                mtu: final.map { Int($0.mtu) }, pciID: pci)]
            inv.env.failpoint("add.before-result")
            return result
        }
    }

    /// ADD's undo of the move: the device is in the pod under `ifname` (moved and renamed, aliased or not) or under
    /// its own name (moved, rename refused), with the recorded MAC; it goes home under its name, without alias,
    /// down. Nothing of ours in the pod: the move never happened.
    static func returnAfterFailedAdd(record: Record, ifname: String, pod: PodNamespace, host: HostNamespace) throws {
        guard let l = try pod.sock.links().first(where: { l in
            (l.name == ifname || l.name == record.name) && !IPVlanDriver.slaveKinds.contains(l.kind ?? "")
                && (l.alias == nil || l.alias == "" || l.alias == record.name)
                && (record.mac == nil || l.hardwareAddress == record.mac)
        }) else { return }
        try moveHome(l, from: pod.sock, record: record, host: host, what: "return \(l.name) from \(pod.path)")
    }

    /// One message back: the kernel moves the device (arriving as `record.name` should its pod name be taken on the
    /// node), then renames it and clears the alias.
    static func moveHome(_ l: Link, from sock: borrowing RouteSocket, record: Record, host: HostNamespace, what: String) throws {
        try CoreError.step("\(what) to the node's netns as \(record.name)") {
            try sock.setLink(index: l.index, LinkChange(name: record.name, up: false, namespaceFD: host.ns.fd, alias: ""))
        }
    }

    /// Brings a device home wherever it is: in the pod netns under `ifname` (one move back, renamed, alias
    /// cleared), or already back in the node's netns under another name because the pod netns died (or because a
    /// move back was half done: moved, rename refused). Restores the name, clears the alias, leaves it down.
    /// Returns false when the device was not found.
    @discardableResult
    static func returnDevice(record: Record, ifname: String, pod: PodNamespace?, host: HostNamespace,
                             log: EventLog) throws -> Bool {
        func isOurs(_ l: Link) -> Bool {
            (l.alias == record.name) && (record.mac == nil || l.hardwareAddress == nil || l.hardwareAddress == record.mac)
        }
        if let pod, let l = try pod.sock.link(named: ifname), isOurs(l) {
            try moveHome(l, from: pod.sock, record: record, host: host, what: "return \(ifname) from \(pod.path)")
            return true
        }
        // The pod netns is gone (or never got the device): look in the node's netns.
        guard let l = try host.sock.links().first(where: isOurs) else { return false }
        if l.name != record.name {
            try CoreError.step("rename \(l.name) back to \(record.name)") {
                try host.sock.setLink(index: l.index, LinkChange(up: false))
                try host.sock.setLink(index: l.index, LinkChange(name: record.name, alias: ""))
            }
        } else {
            try CoreError.step("clear the alias of \(record.name)") {
                try host.sock.setLink(index: l.index, LinkChange(up: false, alias: ""))
            }
        }
        log.write(.info, "returned \(record.name) found in the node's netns as \(l.name)")
        return true
    }

    static func del(_ inv: Invocation) throws {
        let ipam = (try? inv.ipam()) ?? .none
        let path = recordPath(inv, ipam, inv.key)
        let pod = PodNamespace.ifPresent(inv.cni.netns)
        var record = try FileIO.read(path).flatMap(Record.init)
        if record == nil, let pod, let l = try pod.sock.link(named: inv.cni.ifname), let alias = l.alias {
            // No record (older state, or a wiped dataDir): the alias still names the original device.
            record = Record(name: alias, mac: l.hardwareAddress)
        }
        guard let record else { return }
        let host = try HostNamespace()
        let found = try returnDevice(record: record, ifname: inv.cni.ifname, pod: pod, host: host, log: inv.log)
        if !found { inv.log.write(.info, "DEL: \(record.name) not found in \(inv.cni.netns) nor on the node") }
        inv.env.failpoint("del.hd.after-return")
        try FileIO.remove(path, .hint)
    }

    static func check(_ inv: Invocation, prev: CNIResult) throws {
        let pod = try PodNamespace(path: inv.cni.netns)
        if prev.interfaces.contains(where: { $0.name == inv.cni.ifname && ($0.mac ?? "").isEmpty && $0.pciID != nil }) {
            return  // DPDK: nothing in the kernel to check
        }
        let (idx, link) = try checkedInterface(inv, pod: pod, prev: prev)
        let ipam = (try? inv.ipam()) ?? .none
        if let rec = try FileIO.read(recordPath(inv, ipam, inv.key)).flatMap(Record.init), link.alias != rec.name {
            throw CoreError.checkFailed("\(link.name) should carry alias \(rec.name), has \(link.alias ?? "none")")
        }
        try checkAddressesAndRoutes(pod: pod, link: link, resultIndex: idx, prev: prev)
    }

    /// GC: for records of attachments that are no longer valid, bring the device home if the kernel already
    /// returned it to the node's netns, and drop the record. A record is also dropped when its device is already
    /// home (its own name, no alias: the node rebooted, which returns every device to its boot name) or when a valid
    /// attachment's record names the same device (after a reboot, a new sandbox took it while the old record was
    /// still there). Otherwise it is kept: the device may still sit in a pod netns that has not been deleted yet.
    static func gc(_ inv: Invocation, valid: Set<AttachmentKey>) -> [any Error] {
        let ipam = (try? inv.ipam()) ?? .none
        let dir = inv.networkState(ipam).links
        var errors: [any Error] = []
        do {
            let host = try HostNamespace()
            var records: [(key: AttachmentKey, name: String, record: Record?)] = []
            for name in try FileIO.list(dir) {
                guard let k = AttachmentKey(fileName: name) else { continue }
                records.append((k, name, try? FileIO.read("\(dir)/\(name)").flatMap(Record.init)))
            }
            let claimed = records.filter { valid.contains($0.key) }.compactMap(\.record)
            func sameDevice(_ a: Record, _ b: Record) -> Bool {
                if let m = a.mac, let n = b.mac { return m == n }
                return a.name == b.name
            }
            for r in records where !valid.contains(r.key) {
                do {
                    guard let rec = r.record, !claimed.contains(where: { sameDevice($0, rec) }) else {
                        try FileIO.remove("\(dir)/\(r.name)", .hint)
                        continue
                    }
                    let home = try host.sock.link(named: rec.name).map {
                        ($0.alias ?? "").isEmpty && (rec.mac == nil || $0.hardwareAddress == rec.mac)
                    } ?? false
                    if try home || returnDevice(record: rec, ifname: r.key.ifname, pod: nil, host: host, log: inv.log) {
                        try FileIO.remove("\(dir)/\(r.name)", .hint)
                    }
                } catch { errors.append(error) }
            }
        } catch { errors.append(error) }
        return errors
    }
}
