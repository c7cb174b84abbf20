import Foundation
import Testing
import Platform
import AgentProtocol
@testable import ENIMultusCore
import TestSupport
import NodeState

let straceBinary = "/usr/bin/strace"

/// The fsync policy (docs/state-format.md, "Durability") as the built plugin carries it out: an ADD and a DEL run
/// under `strace -f -y`, and every change to an ownership record (attachments/, ips/, ec2/ledger, queue, warm,
/// prefixes) is on disk before the verb returns — a renamed file fsync'ed before its rename, a file created in place
/// fsync'ed, and its directory fsync'ed after the change — while hints (the cursor, cooldown marks, caches) are never
/// synced. The fsync counts per verb are pinned: they are the policy's cost.
@Suite(.tier(), .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: straceBinary) || Capabilities.isCI))
struct HostDurabilityTests {
    static let strace = straceBinary
    static let emulator = Result { try EC2Emulator() }

    enum Event: Equatable {
        case create(String)           // openat(..., O_CREAT ...) of a file other than a temporary one
        case fsync(String)            // fsync/fdatasync of the fd's path
        case rename(from: String, to: String)
        case unlink(String)
    }

    /// The events of an `strace -f -y -e trace=openat,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat` log.
    static func events(_ log: String) -> [Event] {
        func quoted(_ s: Substring) -> [String] {
            var out: [String] = [], cur = "", inside = false
            for c in s {
                if c == "\"" { if inside { out.append(cur); cur = "" }; inside.toggle() } else if inside { cur.append(c) }
            }
            return out
        }
        var out: [Event] = []
        for raw in log.split(separator: "\n") {
            // "[pid N] " or "N " prefixes, then the call; failed calls (= -1) changed nothing.
            guard let paren = raw.firstIndex(of: "("), !raw.contains("= -1") else { continue }
            let name = raw[..<paren].split(separator: " ").last.map(String.init) ?? ""
            let args = raw[raw.index(after: paren)...]
            switch name {
            case "openat" where args.contains("O_CREAT"):
                if let p = quoted(args).first, !p.contains(".tmp."), !p.hasSuffix("/lock") { out.append(.create(p)) }
            case "fsync", "fdatasync":
                if let lt = args.firstIndex(of: "<"), let gt = args[lt...].firstIndex(of: ">") {
                    out.append(.fsync(String(args[args.index(after: lt)..<gt])))
                }
            case "rename", "renameat", "renameat2":
                let q = quoted(args)
                if q.count >= 2 { out.append(.rename(from: q[0], to: q[1])) }
            case "unlink", "unlinkat":
                if let p = quoted(args).first { out.append(.unlink(p)) }
            default: continue
            }
        }
        return out
    }

    static func isOwnership(_ path: String) -> Bool {
        ["/attachments/", "/ips/", "/ec2/ledger/", "/ec2/queue/", "/ec2/warm/"].contains { path.contains($0) }
            || path.hasSuffix("/ec2/prefixes")
    }
    static func directory(_ path: String) -> String { (path as NSString).deletingLastPathComponent }

    /// What the policy forbids in `events`, and the number of fsyncs.
    static func violations(_ events: [Event]) -> (problems: [String], fsyncs: Int) {
        var problems: [String] = []
        var synced = Set<String>()          // files fsync'ed since they were written
        var pendingDirs: [String: String] = [:]   // directory -> the change that awaits its fsync
        for (i, e) in events.enumerated() {
            switch e {
            case .create(let p):
                synced.remove(p)
                if isOwnership(p) { pendingDirs[directory(p)] = "create \(p)" }
            case .fsync(let p):
                synced.insert(p)
                pendingDirs[p] = nil
            case .rename(let from, let to):
                if isOwnership(to) {
                    if !synced.contains(from) { problems.append("#\(i) \(to) renamed into place before its data was fsync'ed") }
                    pendingDirs[directory(to)] = "rename to \(to)"
                } else if synced.contains(from) {
                    problems.append("#\(i) the hint \(to) was fsync'ed (the policy keeps fsyncs off hints)")
                }
            case .unlink(let p):
                if isOwnership(p) && !p.contains(".tmp.") { pendingDirs[directory(p)] = "unlink \(p)" }
            }
        }
        // A created ownership file must itself be fsync'ed (its content), not only its directory.
        for case .create(let p) in events where isOwnership(p) && !synced.contains(p) {
            problems.append("\(p) created but its content never fsync'ed")
        }
        for (dir, why) in pendingDirs.sorted(by: { $0.key < $1.key }) {
            problems.append("\(dir) not fsync'ed after \(why)")
        }
        let fsyncs = events.filter { if case .fsync = $0 { true } else { false } }.count
        return (problems, fsyncs)
    }

    /// Runs the built plugin under strace; returns its events.
    func traced(_ command: String, cid: String, conf: String, env extra: [String: String] = [:]) throws -> [Event] {
        let log = try makeTempDir("emt-strace") + "/trace"
        defer { try? FileManager.default.removeItem(atPath: directory(log)) }
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
                   "CNI_NETNS": "/proc/self/ns/net", "CNI_IFNAME": "net1", "CNI_PATH": "/nonexistent"]
        env.merge(extra) { _, b in b }
        let r = Shell.run([Self.strace, "-f", "-y", "-o", log,
                           "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat", pluginBinary],
                          stdin: Array(conf.utf8), env: env, clearEnvironment: true, timeout: 60)
        #expect(r.status == 0, "\(command) \(cid): \(r.stdout) \(r.stderr)")
        let events = Self.events(try String(contentsOfFile: log, encoding: .utf8))
        #expect(!events.isEmpty, "strace logged nothing for \(command)")
        return events
    }
    func directory(_ p: String) -> String { Self.directory(p) }

    @Test("ranges: an ADD syncs its record and address file (4 fsyncs), a DEL its two removals (2); hints never")
    func ranges() throws {
        let dir = try makeTempDir("emt-durable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = #"{"cniVersion":"1.1.0","name":"n1","type":"macvlan","master":"ens6","ipam":{"type":"eni-multus","dataDir":"\#(dir)","ranges":[[{"subnet":"10.0.1.0/24"}]],"cooldownSeconds":30}}"#
        _ = try traced("ADD", cid: "warm", conf: conf)   // the store's directories are created (and synced) once
        _ = try traced("DEL", cid: "warm", conf: conf)
        let add = try traced("ADD", cid: "c1", conf: conf)
        let a = Self.violations(add)
        #expect(a.problems == [], "ADD: \(add)")
        #expect(a.fsyncs == 4, "ADD: \(add)")
        #expect(add.contains { if case .rename(_, let to) = $0 { to.hasSuffix("/last_reserved_ip.0") } else { false } },
                "the cursor is still written (unsynced): \(add)")
        let del = try traced("DEL", cid: "c1", conf: conf)
        let d = Self.violations(del)
        #expect(d.problems == [], "DEL: \(del)")
        #expect(d.fsyncs == 2, "DEL: \(del)")
        #expect(del.contains { if case .rename(_, let to) = $0 { to.contains("/cooling/") } else { false } },
                "the cooldown mark is still written (unsynced): \(del)")
    }

    @Test("the checker fails a build that renames without fsync, or leaves a directory unsynced")
    func checkerCatchesAnUnsyncedRename() {
        let log = """
        100 openat(AT_FDCWD, "/d/n1/attachments/.c1:net1.tmp.100", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC|O_NOFOLLOW, 0600) = 3</d/n1/attachments/.c1:net1.tmp.100>
        100 rename("/d/n1/attachments/.c1:net1.tmp.100", "/d/n1/attachments/c1:net1") = 0
        100 openat(AT_FDCWD, "/d/n1/ips/10.0.1.2", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, 0600) = 3</d/n1/ips/10.0.1.2>
        100 fsync(3</d/n1/ips/10.0.1.2>) = 0
        """
        let v = Self.violations(Self.events(log))
        #expect(v.problems.count == 3, "\(v.problems)")   // unsynced rename, attachments/ and ips/ not synced
        let good = """
        100 openat(AT_FDCWD, "/d/n1/attachments/.c1:net1.tmp.100", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC|O_NOFOLLOW, 0600) = 3</d/n1/attachments/.c1:net1.tmp.100>
        100 fsync(3</d/n1/attachments/.c1:net1.tmp.100>) = 0
        100 rename("/d/n1/attachments/.c1:net1.tmp.100", "/d/n1/attachments/c1:net1") = 0
        100 fsync(3</d/n1/attachments>) = 0
        """
        #expect(Self.violations(Self.events(good)).problems == [])
    }

    @Test("ec2 mode with registration through the agent: every ledger write and removal is synced before the verb returns")
    func ec2Ledger() throws {
        let emu = try Self.emulator.get()
        try emu.clearFaults()
        let w = try emu.scenario(["instances": [["name": "node1", "enis": [["name": "m1", "deviceIndex": 1,
                                                                           "tags": [NodeTags.noManage: "true"]]]]]])
        let enis = try #require(w["enis"] as? [String: [String: Any]])
        let inst = try #require(w["instances"] as? [String: [String: Any]])
        var aws = emu.environment
        aws["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = try #require(inst["node1"]?["imds"] as? String)
        let vars = try NodeAgentProcess.pluginVariables(for: aws)
        let subnet = try #require(enis["m1"]?["subnetId"] as? String)
        let dir = try makeTempDir("emt-durable")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (mode, extra) in [("ec2", #","cooldownSeconds":30"#), ("ec2", #","cooldownSeconds":0,"warmAddresses":1"#),
                              ("prefix", #","cooldownSeconds":0"#)] {
            let conf = #"{"cniVersion":"1.1.0","name":"n-\#(mode)\#(extra.count)","type":"macvlan","master":"ens6","eni":{"subnetId":"\#(subnet)"},"ipam":{"type":"eni-multus","dataDir":"\#(dir)","mode":"\#(mode)"\#(extra)}}"#
            for cid in ["w1", "c1"] {
                let add = try traced("ADD", cid: cid, conf: conf, env: vars)
                #expect(Self.violations(add).problems == [], "\(mode)\(extra) ADD \(cid): \(add)")
                #expect(add.contains { if case .rename(_, let to) = $0 { Self.isOwnership(to) } else { false } })
                let del = try traced("DEL", cid: cid, conf: conf, env: vars)
                #expect(Self.violations(del).problems == [], "\(mode)\(extra) DEL \(cid): \(del)")
            }
        }
    }
}
