#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import ENIMultusCore
import TestSupport
@testable import ENIAddressing

/// One crash case: a failpoint (`Failpoints.all`) reached by ADD or DEL on a network of one IPAM mode.
struct CrashCase: Sendable, CustomStringConvertible {
    var point: String
    var mode: CampaignMode
    /// What the killed invocation leaves is released by GC's reconcile, by design: EC2 assigned something the
    /// ADD never got to record (Tests/README.md: reconcile covers "an ADD between its EC2 call and its record"), or DEL
    /// forgot a prefix it had not yet returned. That leftover — at most one address or prefix EC2 holds beyond
    /// the store (in `ec2Warm`, the address and the pool's refill: `CampaignMode.reconcileLeftover`) — is allowed
    /// before GC and after a GC with the campaign's non-zero grace; then one reconcile pass (grace 0) must
    /// release it.
    var needsGC = false
    /// One good ADD and DEL before the runs, so that the point is reached (`ec2Warm`: the pool is filled).
    var warmUp = false
    /// Before every run the pool is emptied (its records dropped, then released by a reconcile pass), so that the
    /// ADD asks EC2 and reaches the point (`ec2Warm`'s refill).
    var emptyPool = false
    var isDel: Bool { point.hasPrefix("del.") }
    var description: String { "\(point) [\(mode)]" }
}

extension FaultsCampaignTests {
    /// the process is killed (SIGKILL, `ENI_MULTUS_FAILPOINT`) at each failpoint of ADD and DEL;
    /// then the runtime's follow-up DEL (and, where the design says so, GC) must leave no link in either netns
    /// (the device back in the node netns under its name), no state file but cooling records, no EC2
    /// assignment, no queued release, and the next ADD of the same pod must succeed. DEL killed at a point is
    /// followed by a DEL retry, with the same checks.
    @Suite(.serialized)
    struct Crash {
        static let emulator = Result { try EC2Emulator() }

        /// Runs per point without EC2 (ENI_MULTUS_CRASH_RUNS) and per EC2 point (ENI_MULTUS_CRASH_EC2_RUNS).
        static let runs = Int(ProcessInfo.processInfo.environment["ENI_MULTUS_CRASH_RUNS"] ?? "") ?? 50
        static let ec2Runs = Int(ProcessInfo.processInfo.environment["ENI_MULTUS_CRASH_EC2_RUNS"] ?? "") ?? 50
        /// Parallel workers for the points without EC2 (each with its own node, pod and state directory), and for
        /// the EC2 points (each with its own instance and ENI in the emulator).
        static let workers = Int(ProcessInfo.processInfo.environment["ENI_MULTUS_CRASH_WORKERS"] ?? "") ?? 3
        static let ec2Workers = Int(ProcessInfo.processInfo.environment["ENI_MULTUS_CRASH_EC2_WORKERS"] ?? "") ?? 2

        static let cases: [CrashCase] = {
            var c: [CrashCase] = [
                // ADD, built-in ranges, host-device.
                .init(point: "add.ipam.after-record", mode: .ranges),
                .init(point: "add.ipam.after-address-files", mode: .ranges),
                .init(point: "add.after-ipam", mode: .ranges),
                .init(point: "add.hd.after-link-record", mode: .ranges),
                .init(point: "add.hd.after-move-into-netns", mode: .ranges),
                .init(point: "add.after-address-add", mode: .ranges),
                .init(point: "add.after-link-up", mode: .ranges),
                .init(point: "add.after-route-add", mode: .ranges),
                .init(point: "add.before-result", mode: .ranges),
                // DEL, built-in ranges, host-device.
                .init(point: "del.ipam.after-cooling", mode: .ranges),
                .init(point: "del.ipam.after-address-files", mode: .ranges),
                .init(point: "del.after-ipam-release", mode: .ranges),
                .init(point: "del.hd.after-return", mode: .ranges),
                // EC2 registration of ranges addresses.
                .init(point: "add.after-ledger-record", mode: .rangesENI),
                .init(point: "add.after-ec2-register", mode: .rangesENI),
                .init(point: "del.after-ec2-release", mode: .rangesENI),
                .init(point: "del.after-ledger-forget", mode: .rangesENI),
                // mode ec2.
                .init(point: "add.ec2.after-ledger-open", mode: .ec2),
                .init(point: "add.ec2.after-assign", mode: .ec2, needsGC: true),
                .init(point: "add.ec2.after-ledger-complete", mode: .ec2),
                .init(point: "del.after-ec2-release", mode: .ec2),
                .init(point: "del.after-ec2-queue", mode: .ec2Cooldown),
                .init(point: "del.after-ledger-forget", mode: .ec2Cooldown),
                // mode prefix.
                .init(point: "add.prefix.after-grow-assign", mode: .prefix, needsGC: true),
                .init(point: "add.prefix.after-grow-save", mode: .prefix),
                .init(point: "add.prefix.after-allocate", mode: .prefix),
                .init(point: "del.prefix.after-release", mode: .prefix),
                .init(point: "del.prefix.after-forget", mode: .prefix, needsGC: true),
                .init(point: "del.prefix.after-return", mode: .prefix),
                // mode ec2 with a warm pool: an ADD taking a pool address (the pool filled by a first ADD and DEL),
                // and an ADD whose one EC2 call also refilled the pool (all of it left to the reconcile).
                .init(point: "add.ec2.after-warm-take", mode: .ec2Warm, warmUp: true),
                .init(point: "add.ec2.after-assign", mode: .ec2Warm, needsGC: true, emptyPool: true),
            ]
            return c
        }()

        /// The ipvlan cases: they need a kernel with ipvlan, so `KernelCrashTests` runs them inside user-mode Linux.
        static let ipvlanCases: [CrashCase] = [
            "add.after-ipam", "add.ipvlan.after-create", "add.ipvlan.after-rename", "add.after-address-add", "add.after-link-up",
            "add.after-route-add", "add.before-result",
            "del.ipam.after-cooling", "del.ipam.after-address-files", "del.after-ipam-release",
        ].map { CrashCase(point: $0, mode: .ipvlanRanges) }

        @Test("every failpoint in the sources is listed in Failpoints and has a crash case here or in the kernel tier")
        func everyPointHasACase() throws {
            let listed = Set(Failpoints.all)
            #expect(listed.count == Failpoints.all.count, "duplicate failpoint names")
            #expect(listed.count >= 20)
            let covered = Set((Self.cases + Self.ipvlanCases).map(\.point))
            #expect(listed.subtracting(covered).isEmpty,
                    "failpoints without a crash case: \(listed.subtracting(covered).sorted())")
            #expect(covered.subtracting(listed).isEmpty, "cases for unknown failpoints: \(covered.subtracting(listed).sorted())")
            // The call sites: every literal passed to failpoint(...) in Sources is a listed name, and every listed
            // name is called somewhere.
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Sources")
            var called = Set<String>()
            let e = FileManager.default.enumerator(atPath: root.path)
            while let p = e?.nextObject() as? String {
                guard p.hasSuffix(".swift") else { continue }
                let text = try String(contentsOfFile: root.path + "/" + p, encoding: .utf8)
                var rest = Substring(text)
                while let r = rest.range(of: "failpoint(\"") {
                    let tail = rest[r.upperBound...]
                    if let q = tail.firstIndex(of: "\"") { called.insert(String(tail[..<q])) }
                    rest = tail
                }
            }
            #expect(called == listed, "called but not listed: \(called.subtracting(listed).sorted()); listed but never called: \(listed.subtracting(called).sorted())")
        }

        /// The numbers printed at the end.
        final class Tally: Sendable {
            struct Row { var runs = 0; var execs = 0; var leaks = 0; var seconds = 0.0 }
            let rows = Mutex<[String: Row]>([:])
            func add(_ c: CrashCase, runs: Int, execs: Int, leaks: Int, seconds: Double) {
                rows.withLock { $0[c.description] = Row(runs: runs, execs: execs, leaks: leaks, seconds: seconds) }
            }
        }

        @Test("SIGKILL at every failpoint of ADD and DEL, then the runtime's DEL (and GC): nothing leaks, the next ADD succeeds")
        func killAtEveryPoint() throws {
            try CampaignGate.shared { try killAtEveryPointGated() }
        }

        func killAtEveryPointGated() throws {
            let worlds = try Self.emulatorOrNil().map { try CampaignEC2.make($0, count: Self.ec2Workers) } ?? []
            let problems = Self.campaign(Self.cases, worlds: worlds)
            for p in problems { Issue.record(Comment(rawValue: p)) }
        }

        /// Tests of the tests: the crash campaign's EC2 invariant (what EC2 holds ⊆ ledger ∪ queue ∪
        /// held prefixes, checked before any GC, and GC's reconcile grace non-zero) catches a DEL that forgets its
        /// ledger entry without queueing the release (`ENI_MULTUS_MUTANT=del.skip-queue`, ec2+cooldown) and a DEL that
        /// drops an empty prefix from the held list without returning it (`del.prefix.skip-return`). Two runs each.
        @Test("the crash campaign's EC2 invariant catches a DEL that neither releases nor queues, and a prefix dropped but not returned",
              arguments: [(Mutants.delSkipsQueue, "del.after-ec2-queue", CampaignMode.ec2Cooldown),
                          (Mutants.prefixSkipsReturn, "del.prefix.after-release", CampaignMode.prefix)])
        func invariantCatchesMutant(_ mutant: String, _ point: String, _ mode: CampaignMode) throws {
            try CampaignGate.shared {
                let emu = try Self.emulator.get()
                let world = try CampaignEC2.make(emu)
                let problems = Self.campaign([CrashCase(point: point, mode: mode)], worlds: [world], label: "faults/crash companion [\(mutant)]",
                                             minimumPoints: 1, ec2Runs: 2, env: [PluginEnvironment.mutantVariable: mutant])
                #expect(problems.contains { $0.contains(CampaignNode.invariantMarker) && $0.contains("before GC") },
                        "the invariant did not report the mutant \(mutant): \(problems)")
            }
        }

        /// Runs `cases` (the EC2 ones on `worlds`, one worker each), prints the figures, returns every problem.
        /// `env`: extra environment for every invocation (the companions' mutant).
        static func campaign(_ cases: [CrashCase], worlds: [CampaignEC2], label: String = "faults/crash",
                             minimumPoints: Int = 20, ec2Runs: Int = Crash.ec2Runs, env: [String: String] = [:]) -> [String] {
            let started = Date()
            let problems = ProblemLog()
            let tally = Tally()
            let local = cases.filter { !$0.mode.usesEC2 }
            let remote = cases.filter { $0.mode.usesEC2 }
            let next = Counter(), nextRemote = Counter()
            if worlds.isEmpty && !remote.isEmpty { problems.add("the EC2 cases did not run: no emulator") }
            // Workers take cases from shared lists: those without EC2 on workers 0..<workers, the EC2 cases on one
            // worker per emulated instance (its own ENI).
            onThreads(Self.workers + worlds.count) { w in
                let ec2 = w >= Self.workers ? worlds[w - Self.workers] : nil
                while true {
                    let i = ec2 == nil ? next.next() : nextRemote.next()
                    let list = ec2 == nil ? local : remote
                    guard i < list.count else { return }
                    Self.run(list[i], runs: ec2 == nil ? Self.runs : ec2Runs, worker: w, ec2: ec2,
                             problems: problems, tally: tally, env: env)
                }
            }
            let rows = tally.rows.withLock { $0 }
            var lines: [String] = []
            for c in cases {
                guard let r = rows[c.description] else { lines.append("  \(c): did not run"); continue }
                lines.append("  \(c.point) [\(c.mode)]"
                             + "\(c.needsGC ? " (released by GC's reconcile)" : ""): \(r.runs) runs, \(r.execs) execs,"
                             + " \(r.leaks) leaks, \(String(format: "%.1f", r.seconds)) s")
            }
            let points = Set(rows.keys.compactMap { k in cases.first { $0.description == k }?.point })
            let runs = rows.values.reduce(0) { $0 + $1.runs }
            let leaks = rows.values.reduce(0) { $0 + $1.leaks }
            let execs = rows.values.reduce(0) { $0 + $1.execs }
            print((["\(label): \(points.count) points, \(runs) runs, \(leaks) leaks"
                    + " (\(rows.count) point×mode cases, \(execs) executions of the plugin, \(Self.runs) runs per point"
                    + " without EC2 on \(Self.workers) workers"
                    + (worlds.isEmpty ? ";" : ", \(ec2Runs) per EC2 point on \(worlds.count) workers;")
                    + " \(secondsSince(started)) s)"]
                   + lines).joined(separator: "\n"))
            var out = problems.all
            if points.count < minimumPoints { out.append("only \(points.count) points ran, expected at least \(minimumPoints)") }
            return out
        }

        static func emulatorOrNil() throws -> EC2Emulator? {
            do { return try emulator.get() } catch {
                if Capabilities.isCI { throw error }
                return nil
            }
        }

        /// One case: a fresh node, pod and state directory; `runs` kills; leaks recorded in `problems`.
        static func run(_ c: CrashCase, runs: Int, worker: Int, ec2: CampaignEC2?, problems: ProblemLog, tally: Tally,
                        env: [String: String] = [:]) {
            let started = Date()
            var execs = 0, leaks = 0, done = 0
            func problem(_ run: Int, _ s: String) {
                leaks += 1
                problems.add("\(c) run \(run): \(s)")
            }
            let dataDir: String
            do { dataDir = try makeTempDir("emt-crash") } catch { problems.add("\(c): \(error)"); return }
            defer { _ = Shell.run(["rm", "-rf", dataDir]) }
            let mac = ec2?.mac ?? String(format: "02:ee:00:00:%02x:01", worker)
            let node: CampaignNode
            do { node = try CampaignNode(tag: "\(worker)", mac: mac, dataDir: dataDir, ec2: ec2) } catch {
                problems.add("\(c): fixture: \(error)")
                return
            }
            defer { node.close() }
            let conf = c.mode.conf(dataDir: dataDir, ec2: ec2)
            let gcConf = c.mode.conf(dataDir: dataDir, ec2: ec2, gc: [])
            let reconcileConf = c.mode.conf(dataDir: dataDir, ec2: ec2, gc: [], reconcile: true)
            let cid = "crash-\(worker)"
            func exec(_ verb: String, _ fp: String? = nil, reconcile: Bool = false) -> ChildResult {
                execs += 1
                return node.exec(verb, conf: verb == "GC" ? (reconcile ? reconcileConf : gcConf) : conf, containerID: cid,
                                 failpoint: fp, env: env)
            }
            /// The EC2 invariant (what EC2 holds ⊆ ledger ∪ queue ∪ held prefixes); a `needsGC` case may leave at
            /// most one address or prefix to the reconcile, and it must be the same one after a GC with grace.
            /// Returns the allowed leftover, nil after recording a problem.
            func invariant(_ run: Int, _ when: String, allowed: CampaignNode.Unaccounted? = nil) -> CampaignNode.Unaccounted? {
                guard ec2 != nil else { return CampaignNode.Unaccounted() }
                var left = CampaignNode.Unaccounted()
                if c.needsGC {
                    do { left = try node.unaccountedInEC2() } catch { problem(run, "EC2 unreadable \(when): \(error)"); return nil }
                    if let allowed { left.addresses.removeAll { !allowed.addresses.contains($0) }; left.prefixes.removeAll { !allowed.prefixes.contains($0) } }
                    if left.count > c.mode.reconcileLeftover { left = CampaignNode.Unaccounted() }
                }
                let p = node.ec2InvariantProblems(when, allowing: left)
                if !p.isEmpty { problem(run, p.joined(separator: "; ")); return nil }
                return left
            }
            /// ADD that must succeed and put its address on net1.
            func goodADD(_ run: Int, _ what: String) -> Bool {
                let r = exec("ADD")
                guard r.status == 0 else { problem(run, "\(what) ADD failed: \(r)"); return false }
                let want = CampaignNode.resultAddresses(r)
                let have = node.addresses(in: node.pod, "net1").map(\.description)
                if want.isEmpty || Set(want) != Set(have) { problem(run, "\(what) ADD: result \(want), net1 has \(have)") }
                return true
            }
            func cleanup(_ run: Int) -> Bool {
                let d = exec("DEL")
                if d.status != 0 { problem(run, "DEL after the kill failed: \(d)"); return false }
                // Before any GC: everything EC2 holds is accounted for (only a needsGC leftover allowed).
                guard let left = invariant(run, "before GC, after the DEL") else { _ = exec("GC", reconcile: true); return false }
                if c.mode == .ec2Cooldown { usleep(1_100_000) }  // the queued release becomes due
                if c.needsGC || c.mode == .ec2Cooldown {
                    // The campaign's grace is non-zero: this GC drains the queue and returns empty prefixes but
                    // unassigns nothing unowned, so it cannot hide a leak.
                    let g = exec("GC")
                    if g.status != 0 { problem(run, "GC failed: \(g)"); return false }
                    guard invariant(run, "after GC (grace \(CampaignMode.reconcileGrace) s)", allowed: left) != nil else {
                        _ = exec("GC", reconcile: true); return false
                    }
                }
                if !left.isEmpty {
                    // The leftover the design hands to the reconcile: one pass with grace 0 releases it.
                    let g = exec("GC", reconcile: true)
                    if g.status != 0 { problem(run, "reconcile GC failed: \(g)"); return false }
                }
                let l = node.allLeaks()
                if !l.isEmpty {
                    problem(run, "left behind: \(l.joined(separator: "; "))")
                    // The next run needs the device in the node again.
                    if node.links(in: node.node).first(where: { $0.name == "eni0" }) == nil { try? node.makeENI() }
                    return false
                }
                return true
            }

            if c.isDel || c.warmUp, !goodADD(0, "first") { tally.add(c, runs: 0, execs: execs, leaks: leaks, seconds: 0); return }
            if c.warmUp {
                let d = exec("DEL")
                if d.status != 0 { problem(0, "the warm-up DEL failed: \(d)") }
            }
            for run in 1...runs {
                if leaks >= 3 { problems.add("\(c): stopped after \(run - 1) runs (3 problems)"); break }
                if c.emptyPool {
                    _ = Shell.run(["rm", "-rf", "\(dataDir)/\(CampaignMode.network)/ec2/warm"])
                    let g = exec("GC", reconcile: true)
                    if g.status != 0 { problem(run, "the reconcile that empties the pool failed: \(g)") }
                }
                let k = exec(c.isDel ? "DEL" : "ADD", c.point)
                guard k.killedBySIGKILL else {
                    problem(run, "the plugin was not killed at \(c.point): \(k)")
                    break
                }
                guard cleanup(run) else { _ = exec("DEL"); continue }
                done += 1
                if c.isDel {
                    // The next ADD of the pod: it also sets up the next run.
                    if !goodADD(run, "next") { break }
                } else {
                    guard goodADD(run, "next") else { break }
                    let d = exec("DEL")
                    if d.status != 0 { problem(run, "DEL of the next ADD failed: \(d)"); break }
                }
            }
            if c.isDel {
                let d = exec("DEL")
                if d.status != 0 { problem(runs, "final DEL failed: \(d)") }
            }
            if c.mode == .ec2Cooldown {
                _ = invariant(runs, "before the final GC")
                usleep(1_100_000)
                _ = exec("GC")
            }
            let l = node.allLeaks()
            if !l.isEmpty { problem(runs, "at the end: \(l.joined(separator: "; "))") }
            tally.add(c, runs: done, execs: execs, leaks: leaks, seconds: Date().timeIntervalSince(started))
        }
    }
}
