#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import ENIMultusCore
import JSON
import NetTypes
import Netlink
import TestSupport

/// failpoints
/// are compiled in): crash safety at every failpoint (`Crash`), 64 parallel ADDs and DELs per IPAM mode
/// (`Concurrency`) and EC2 faults through the emulator's fault proxy (`EC2Faults`), each with its own emulator.
/// Crash and Concurrency run side by side (one churns network namespaces, the other waits on a Python emulator);
/// EC2Faults times ADDs against a 4 s deadline, so it runs alone (`CampaignGate`). The hostile-input and security
/// suites run beside them.
///
/// The world each uses (`CampaignNode`): a simulated node netns holding the "ENI" stand-in `eni0` (a veth whose
/// peer `eni0p` stays beside it; on EC2 networks it carries the moto ENI's MAC, which is how the plugin finds
/// it), a pod netns, and — on EC2 networks — the node agent (`eni-multus-node agent`, in the root netns beside the
/// emulator) whose socket the plugin is given. The plugin is spawned inside the node netns, as Multus runs it on a node; its link
/// mode is host-device (the host kernel has no ipvlan; `KernelCrashTests` runs the ipvlan crash cases in user-mode Linux).
@Suite(.tier(), .enabled(if: EC2Emulator.isAvailable || Capabilities.isCI))
struct FaultsCampaignTests {}

/// Crash and Concurrency hold the gate shared, EC2Faults exclusively.
enum CampaignGate {
    nonisolated(unsafe) static let lock: UnsafeMutablePointer<pthread_rwlock_t> = {
        let p = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        pthread_rwlock_init(p, nil)
        return p
    }()

    static func shared<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    static func exclusive<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// IPAM modes of the campaign and the network config of each.
enum CampaignMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Built-in ranges, no EC2 (cooldown 30 s, the default).
    case ranges
    /// Built-in ranges + `eni` (per-address EC2 registration).
    case rangesENI = "ranges+eni"
    /// `mode: ec2` with cooldown 0 (DEL unassigns at once).
    case ec2
    /// `mode: ec2` with a 1 s cooldown: DEL queues the release, a later GC drains it.
    case ec2Cooldown = "ec2+cooldown"
    /// `mode: prefix` with cooldown 0 and prefixReleaseSeconds 0.
    case prefix
    /// mode ec2 with a warm pool of `warm` addresses and no cooldown: most ADDs and DELs make no EC2 call.
    case ec2Warm = "ec2+warm"
    /// ranges over an ipvlan slave of eni0 (only where the kernel has ipvlan).
    case ipvlanRanges = "ipvlan+ranges"

    var description: String { rawValue }
    var usesEC2: Bool { self != .ranges && self != .ipvlanRanges }

    static let network = "campaign"

    /// The reconcile grace of every campaign config (`reconcileGraceSeconds`): non-zero, so a GC never
    /// unassigns what no record owns and cannot hide a leak from the checks after it. Only where the design hands a
    /// leftover to the reconcile (an ADD killed between its EC2 call and its record, a prefix forgotten but not
    /// returned) does a campaign run one more GC with `reconcile: true` (grace 0), after checking that the leftover
    /// is exactly that.
    static let reconcileGrace = 300

    /// `warmAddresses` of `ec2Warm`: the most the pool may hold once every attachment is gone.
    static let warm = 2

    /// Addresses an ADD killed between its EC2 call and its record can leave to the reconcile: the address, and
    /// in `ec2Warm` the pool's refill from the same call.
    var reconcileLeftover: Int { self == .ec2Warm ? 1 + Self.warm : 1 }

    /// The network config (cniVersion 1.1.0, so GC and STATUS work). `timeout`: ec2TimeoutSeconds. `reconcile`:
    /// grace 0 (the reconcile pass the design relies on). `logFile`: the plugin's JSON-lines log, level info.
    func conf(dataDir: String, ec2: CampaignEC2?, timeout: Int = 10, gc valid: [String]? = nil, reconcile: Bool = false,
              logFile: String? = nil) -> String {
        let grace = reconcile ? 0 : Self.reconcileGrace
        let route = #""routes":[{"dst":"10.78.0.0/16"}]"#
        var link = #""link":"host-device","device":"eni0""#
        if self == .ipvlanRanges { link = #""link":"ipvlan","master":"eni0","mode":"l2""# }
        var eni = ""
        if usesEC2, let ec2 {
            eni = #","eni":{"id":"\#(ec2.eni)"},"ec2TimeoutSeconds":\#(timeout)"#
            link = #""link":"host-device""#
        }
        let ipam: String
        switch self {
        case .ranges, .ipvlanRanges:
            ipam = #""ranges":[[{"subnet":"10.77.0.0/20"}]],\#(route)"#
        case .rangesENI:
            let b = ec2?.base ?? "10.0.100"
            ipam = #""ranges":[[{"subnet":"\#(b).0/24","rangeStart":"\#(b).64","rangeEnd":"\#(b).250"}]],\#(route)"#
        case .ec2:
            ipam = #""mode":"ec2","cooldownSeconds":0,"reconcileGraceSeconds":\#(grace),\#(route)"#
        case .ec2Cooldown:
            ipam = #""mode":"ec2","cooldownSeconds":1,"reconcileGraceSeconds":\#(grace),\#(route)"#
        case .ec2Warm:
            ipam = #""mode":"ec2","cooldownSeconds":0,"warmAddresses":\#(Self.warm),"reconcileGraceSeconds":\#(grace),\#(route)"#
        case .prefix:
            ipam = #""mode":"prefix","cooldownSeconds":0,"prefixReleaseSeconds":0,"reconcileGraceSeconds":\#(grace),\#(route)"#
        }
        let gc = valid.map { v in
            #","cni.dev/valid-attachments":[\#(v.map { #"{"containerID":"\#($0)","ifname":"net1"}"# }.joined(separator: ","))]"#
        } ?? ""
        let log = logFile.map { #","logFile":"\#($0)","logLevel":"info""# } ?? ""
        return #"{"cniVersion":"1.1.0","name":"\#(Self.network)","type":"eni-multus",\#(link)\#(eni)\#(log),"ipam":{"type":"eni-multus","dataDir":"\#(dataDir)",\#(ipam)}\#(gc)}"#
    }
}

/// The emulator side: an instance with one tagged multus ENI (primary address pinned out of every range the
/// campaign uses), reached through the instance's IMDS server. Several instances get ENIs in different subnets
/// (us-east-1a: 10.0.100.0/24, us-east-1b: 10.0.101.0/24, …), so their IPAMs never ask for each other's addresses.
struct CampaignEC2: Sendable {
    let emu: EC2Emulator
    let eni: String
    let mac: String
    let imds: String
    /// The first three octets of the ENI's /24 subnet.
    let base: String

    /// Resets the emulator and builds `count` (1 to 4) instances.
    static func make(_ emu: EC2Emulator, count: Int = 1) throws -> [CampaignEC2] {
        try emu.clearFaults()
        let azs = ["a", "b", "c", "d"].prefix(max(2, count)).map { emu.region + $0 }
        let specs: [[String: Any]] = (0..<count).map { k in
            ["name": "node\(k + 1)", "subnet": "nodes-\(azs[k])", "enis": [
                ["name": "multus\(k + 1)", "deviceIndex": 1, "subnet": "multus-\(azs[k])", "privateIp": "10.0.\(100 + k).10",
                 "tags": ["node.k8s.amazonaws.com/no_manage": "true"]],
            ]]
        }
        let w = try emu.scenario(["azs": azs, "instances": specs])
        let enis = try #require(w["enis"] as? [String: [String: Any]])
        let inst = try #require(w["instances"] as? [String: [String: Any]])
        return try (0..<count).map { k in
            CampaignEC2(emu: emu, eni: try #require(enis["multus\(k + 1)"]?["id"] as? String),
                        mac: try #require(enis["multus\(k + 1)"]?["mac"] as? String),
                        imds: try #require(inst["node\(k + 1)"]?["imds"] as? String), base: "10.0.\(100 + k)")
        }
    }

    static func make(_ emu: EC2Emulator) throws -> CampaignEC2 { try make(emu, count: 1)[0] }

    /// The node agent's AWS environment: the emulator, this node's IMDS.
    var awsEnvironment: [String: String] {
        var v = emu.environment
        v["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds
        return v
    }

    /// What the plugin gets: the socket of this node's agent (which holds `awsEnvironment`), nothing of AWS.
    func pluginEnvironment() throws -> [String: String] { try emu.pluginEnvironment(awsEnvironment) }

    /// What EC2 holds on the ENI beyond its primary address.
    func held() throws -> (addresses: [String], prefixes: [String]) {
        let e = try #require(try emu.enis()[eni])
        return (Array(e.privateIps.dropFirst()) + e.ipv6s, e.ipv4Prefixes + e.ipv6Prefixes)
    }
}

/// A simulated node (netns with `eni0`/`eni0p`), a pod netns, the state directory, and the plugin binary run
/// inside the node the way a runtime runs it.
final class CampaignNode: @unchecked Sendable {
    let node: TestNetns
    let pod: TestNetns
    let dataDir: String
    let mac: String
    private(set) var ec2: CampaignEC2?
    /// On EC2 networks: the variables that point the plugin at this node's agent.
    private let agentVariables: [String: String]

    /// `mac`: the stand-in's address (the ENI's on EC2 networks; any unicast address otherwise).
    /// A failure part-way leaves nothing: the netns go with their `TestNetns` (deleted on deinit), eni0 with the
    /// node netns. The plugin reaches EC2 only through the node agent's socket (the agent runs in the root netns,
    /// where the emulator listens), so nothing in the node netns can reach an AWS endpoint.
    init(tag: String, mac: String, dataDir: String, ec2: CampaignEC2?) throws {
        let n = try TestNetns(prefix: "emtc\(tag)n")
        node = n
        pod = try TestNetns(prefix: "emtc\(tag)p")
        self.dataDir = dataDir
        self.mac = mac
        self.ec2 = ec2
        agentVariables = try ec2?.pluginEnvironment() ?? [:]
        try makeENI()
    }

    /// (Re)creates eni0/eni0p in the node netns, up.
    func makeENI() throws {
        let ns = try NetNS(path: node.path)
        let sock = try RouteSocket(in: ns)
        if let old = try sock.link(named: "eni0p") { try sock.deleteLink(index: old.index) }
        try sock.createVeth(name: "eni0", peerName: "eni0p")
        let eni = try #require(try sock.link(named: "eni0"))
        try sock.setLink(index: eni.index, LinkChange(hardwareAddress: MACAddress(mac)))
        try sock.setLink(index: eni.index, LinkChange(up: true))
        let peer = try #require(try sock.link(named: "eni0p"))
        try sock.setLink(index: peer.index, LinkChange(up: true))
    }

    func close() {
        pod.delete()
        node.delete()
    }

    /// Runs the plugin inside the node netns. `failpoint`: ENI_MULTUS_FAILPOINT.
    func exec(_ verb: String, conf: String, containerID: String, failpoint: String? = nil,
              env extra: [String: String] = [:], timeout: Double = 120) -> ChildResult {
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": verb, "CNI_PATH": "/nonexistent"]
        if verb != "GC" && verb != "STATUS" {
            env["CNI_CONTAINERID"] = containerID
            env["CNI_NETNS"] = pod.path
            env["CNI_IFNAME"] = "net1"
            env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=campaign;K8S_POD_NAME=\(containerID);K8S_POD_UID=uid-\(containerID)"
        }
        env.merge(agentVariables) { _, b in b }
        if let failpoint { env[PluginEnvironment.failpointVariable] = failpoint }
        env.merge(extra) { _, b in b }
        do {
            let ns = try NetNS(path: node.path)
            return try ns.run {
                ChildProcess.run([pluginBinary], env: env, stdin: Array(conf.utf8), timeout: timeout)
            }
        } catch {
            return ChildResult(status: 127, stdout: "", stderr: "cannot enter \(node.path): \(error)", seconds: 0)
        }
    }

    // MARK: what a crash leaves in the kernel

    /// Links of a netns other than lo, as "name alias=… mac=…".
    func links(in ns: TestNetns) -> [Link] {
        guard let n = try? NetNS(path: ns.path), let sock = try? RouteSocket(in: n), let all = try? sock.links() else { return [] }
        return all.filter { $0.name != "lo" }
    }

    func addresses(in ns: TestNetns, _ name: String) -> [IPPrefix] {
        guard let n = try? NetNS(path: ns.path), let sock = try? RouteSocket(in: n),
              let l = try? sock.link(named: name), let a = try? sock.addresses(index: l.index) else { return [] }
        return a.filter { $0.scope == 0 }.map(\.prefix)
    }

    /// Problems with the node and pod after everything was released: the pod must hold nothing but lo; the
    /// node exactly eni0 (its MAC, no alias, original name) and eni0p.
    func kernelLeaks() -> [String] {
        var out: [String] = []
        let inPod = links(in: pod)
        if !inPod.isEmpty { out.append("pod netns holds \(inPod.map(describe))") }
        let inNode = links(in: node)
        let names = Set(inNode.map(\.name))
        if names != ["eni0", "eni0p"] { out.append("node netns holds \(inNode.map(describe)), expected eni0 and eni0p") }
        if let e = inNode.first(where: { $0.name == "eni0" }) {
            if e.hardwareAddress?.description != mac { out.append("eni0 has MAC \(e.hardwareAddress.map { "\($0)" } ?? "none"), expected \(mac)") }
            if let a = e.alias, !a.isEmpty { out.append("eni0 keeps alias \(a)") }
        }
        return out
    }

    func describe(_ l: Link) -> String {
        "\(l.name)\(l.alias.map { $0.isEmpty ? "" : " alias=\($0)" } ?? "") \(l.hardwareAddress.map { "\($0)" } ?? "")"
    }

    /// Files under the state directory that are not allowed to outlive every attachment: everything except
    /// locks, round-robin cursors, cooling records (README: they outlive the attachment by design), the node's
    /// verified-ENI cache, instance limits and reconcile sightings, and an empty held-prefix list.
    func stateLeaks() -> [String] {
        var out: [String] = []
        guard let e = FileManager.default.enumerator(atPath: dataDir) else { return [] }
        while let p = e.nextObject() as? String {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dataDir + "/" + p, isDirectory: &isDir)
            if isDir.boolValue { continue }
            let name = (p as NSString).lastPathComponent
            // The warm pool is owned state that outlives every attachment by design (bounded in `ec2Leaks`).
            if name == "lock" || name == "prefix.lock" || name.hasPrefix("last_reserved_ip.") || p.contains("/cooling/")
                || p.contains("/ec2/warm/") || p.hasPrefix(".eni/") || p == ".instance-limits" || p == ".reconcile-seen" { continue }
            if p.hasSuffix("/ec2/prefixes"), (FileManager.default.contents(atPath: dataDir + "/" + p) ?? Data()).isEmpty { continue }
            let content = (try? String(contentsOfFile: dataDir + "/" + p, encoding: .utf8)) ?? ""
            out.append("\(p): \(content.replacingOccurrences(of: "\n", with: " ").prefix(160))")
        }
        return out.sorted()
    }

    /// What EC2 still holds on the ENI beyond its primary address and the warm pool, and a warm pool larger than
    /// `warmAddresses` per family or holding an address EC2 does not show.
    func ec2Leaks() -> [String] {
        guard let ec2 else { return [] }
        do {
            var h = try ec2.held()
            let warm = storeAccount().warm
            func norm(_ a: String) -> String { IPAddress(a).map { "\($0)" } ?? a }
            var out: [String] = []
            for v4 in [true, false] where warm.filter({ $0.contains(".") == v4 }).count > CampaignMode.warm {
                out.append("the warm pool holds \(warm.sorted()), more than warmAddresses \(CampaignMode.warm) per family")
            }
            let onENI = Set(h.addresses.map(norm))
            let stale = warm.filter { !onENI.contains($0) }
            if !stale.isEmpty { out.append("the warm pool lists \(stale.sorted()), which EC2 does not show on \(ec2.eni)") }
            h.addresses.removeAll { warm.contains(norm($0)) }
            return out + (h.addresses.isEmpty ? [] : ["EC2: \(ec2.eni) still holds \(h.addresses)"])
                + (h.prefixes.isEmpty ? [] : ["EC2: \(ec2.eni) still holds prefixes \(h.prefixes)"])
        } catch { return ["EC2 state unreadable: \(error)"] }
    }

    func allLeaks() -> [String] { kernelLeaks() + stateLeaks() + ec2Leaks() }

    // MARK: the EC2 invariant

    /// What the state directory accounts for on our ENI: the addresses of ledger entries and of queued releases,
    /// and the held prefixes (normalised through `IPAddress`/`IPPrefix`).
    struct StoreAccount: Sendable {
        var ledger: Set<String> = []
        var queued: Set<String> = []
        var warm: Set<String> = []
        var prefixes: Set<String> = []
        var addresses: Set<String> { ledger.union(queued).union(warm) }
    }

    func storeAccount() -> StoreAccount {
        var out = StoreAccount()
        guard let ec2 else { return out }
        let root = "\(dataDir)/\(CampaignMode.network)/ec2"
        let fm = FileManager.default
        func entries(_ dir: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: "\(root)/\(dir)")) ?? []).filter { !$0.hasPrefix(".") }
                .compactMap { try? String(contentsOfFile: "\(root)/\(dir)/\($0)", encoding: .utf8) }
        }
        func addresses(_ text: String) -> Set<String> {
            let lines = text.split(separator: "\n")
            guard lines.contains(where: { $0 == "eni=\(ec2.eni)" }) else { return [] }
            return Set(lines.filter { $0.hasPrefix("ip=") }.compactMap { IPAddress($0.dropFirst(3)).map { "\($0)" } })
        }
        for e in entries("ledger") { out.ledger.formUnion(addresses(e)) }
        for e in entries("queue") { out.queued.formUnion(addresses(e)) }
        for e in entries("warm") { out.warm.formUnion(addresses(e)) }
        let held = (try? String(contentsOfFile: "\(root)/prefixes", encoding: .utf8)) ?? ""
        for line in held.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.contains(where: { $0 == "eni=\(ec2.eni)" }), let p = f.first(where: { $0.hasPrefix("p=") }),
                  let prefix = IPPrefix(String(p.dropFirst(2))) else { continue }
            out.prefixes.insert("\(prefix)")
        }
        return out
    }

    /// What EC2 holds on our ENI (beyond its primary address) that the store does not account for.
    struct Unaccounted: Sendable, Equatable {
        var addresses: [String] = []
        var prefixes: [String] = []
        var isEmpty: Bool { addresses.isEmpty && prefixes.isEmpty }
        var count: Int { addresses.count + prefixes.count }
    }

    /// The invariant every EC2 campaign asserts before any GC (and again after a GC with a non-zero reconcile
    /// grace): what EC2 holds for our ENI ⊆ ledger ∪ release queue ∪ warm pool ∪ held prefixes. Throws when EC2
    /// is unreadable.
    func unaccountedInEC2() throws -> Unaccounted {
        guard let ec2 else { return Unaccounted() }
        let h = try ec2.held()
        let store = storeAccount()
        func norm(_ a: String) -> String { IPAddress(a).map { "\($0)" } ?? a }
        func normPrefix(_ p: String) -> String { IPPrefix(p).map { "\($0)" } ?? p }
        return Unaccounted(addresses: h.addresses.map(norm).filter { !store.addresses.contains($0) }.sorted(),
                           prefixes: h.prefixes.map(normPrefix).filter { !store.prefixes.contains($0) }.sorted())
    }

    /// The invariant as problem lines (empty when it holds). `allowing`: leftovers the design hands to the
    /// reconcile at this point (checked by the caller); `when`: where in the run, for the message.
    func ec2InvariantProblems(_ when: String, allowing: Unaccounted = Unaccounted()) -> [String] {
        guard let ec2 else { return [] }
        do {
            let u = try unaccountedInEC2()
            let addresses = u.addresses.filter { !allowing.addresses.contains($0) }
            let prefixes = u.prefixes.filter { !allowing.prefixes.contains($0) }
            return (addresses.isEmpty ? [] : ["\(Self.invariantMarker) \(when): EC2 holds \(addresses) on \(ec2.eni), in no ledger entry or queued release"])
                + (prefixes.isEmpty ? [] : ["\(Self.invariantMarker) \(when): EC2 holds prefixes \(prefixes) on \(ec2.eni), not in the held-prefix list"])
        } catch { return ["\(Self.invariantMarker) \(when): EC2 state unreadable: \(error)"] }
    }

    /// Starts every problem line of the EC2 invariant (the companion tests look for it).
    static let invariantMarker = "EC2 ⊄ store"

    /// The addresses of an ADD result.
    static func resultAddresses(_ r: ChildResult) -> [String] {
        guard let j = try? JSON.parse(r.stdout), let ips = j["ips"]?.arrayValue else { return [] }
        return ips.compactMap { $0["address"]?.stringValue }
    }

    static func errorCode(_ r: ChildResult) -> Int64? {
        (try? JSON.parse(r.stdout))?["code"]?.int64Value
    }
}

/// A thread-safe list of problems found on worker threads (recorded as issues by the test at the end).
final class ProblemLog: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ s: String) { items.withLock { $0.append(s) } }
    var all: [String] { items.withLock { $0 } }
}

/// A value shared by worker threads.
final class Locked<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { m.withLock { body(&$0) } }
}

/// A shared counter for worker threads.
final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { v in defer { v += 1 }; return v } }
}

/// Runs `body(i)` for i in 0..<count on `count` threads at once and waits for all.
func onThreads(_ count: Int, stackKB: Int = 1024, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = stackKB << 10
        t.start()
    }
    group.wait()
}

/// Seconds since `start`, formatted.
func secondsSince(_ start: Date) -> String { String(format: "%.1f", Date().timeIntervalSince(start)) }
