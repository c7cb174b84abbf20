#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import ENIMultusCore
import JSON
import TestSupport
@testable import ENIAddressing

/// One kind of EC2 trouble, installed as fault-proxy rules (`EC2Emulator.fault`).
struct EC2FaultKind: Sendable, CustomStringConvertible {
    /// What the ADD under the fault must do; `either` still holds it to the contract (success within the deadline,
    /// or code 11 and a full rollback).
    enum Expect: Sendable { case succeeds, failsWith11, either }
    var name: String
    var expect: Expect
    /// Calls held back this long before reaching EC2 may land after the plugin gave up: wait for them.
    var lateMs = 0
    /// EC2 applies an assignment whose reply never reaches the plugin: in `ec2` and `prefix` mode (count-based
    /// assignment) the plugin cannot know what EC2 chose, so that address or prefix is the reconcile's, by design.
    var lostReply = false
    var install: @Sendable (EC2Emulator, _ timeout: Int) throws -> Void
    var description: String { name }

    /// The deadline of the table (`ec2TimeoutSeconds`).
    static let timeout = 4

    /// The product's own promises (README, `ec2TimeoutSeconds`): ADD's AWS work ends within `ec2TimeoutSeconds`,
    /// DEL's within 5 s (then it queues). What the deadline does not cover — starting the process, reading the
    /// config, netlink, the emulator's IMDS — gets this margin, wide enough for a loaded 2-core machine: the check
    /// is that the deadline holds at all, not how fast the plugin is (that is the bench's business).
    static let promiseMargin = 5.0
    /// ADD returns within `ec2TimeoutSeconds` + `promiseMargin`.
    static var addPromise: Double { Double(timeout) + promiseMargin }
    /// DEL returns within its 5 s EC2 budget + `promiseMargin`.
    static let delPromise = 5.0 + promiseMargin

    static let all: [EC2FaultKind] = [
        // A throttled call backs off up to 1 s, then 2 s (full jitter, the SDKs' standard mode): an ADD whose calls
        // meet the throttle twice may run out of its deadline, and then it must say so with code 11.
        .init(name: "throttled every 2nd call", expect: .either) { e, _ in try e.fault(mode: "throttle", every: 2) },
        .init(name: "throttled on every call", expect: .failsWith11) { e, _ in try e.fault(mode: "throttle") },
        .init(name: "HTTP 500 every 2nd call", expect: .succeeds) { e, _ in try e.fault(mode: "error500", every: 2) },
        .init(name: "HTTP 500 on every call", expect: .failsWith11) { e, _ in try e.fault(mode: "error500") },
        .init(name: "connection dropped every 2nd call", expect: .succeeds) { e, _ in try e.fault(mode: "drop", every: 2) },
        .init(name: "every connection dropped", expect: .failsWith11) { e, _ in try e.fault(mode: "drop") },
        // EC2 applies the assignment, the answer never arrives: the retry must not leave the first one behind.
        .init(name: "assignment applied, reply lost (once)", expect: .succeeds, lostReply: true) { e, _ in
            try e.fault(action: "AssignPrivateIpAddresses", mode: "drop-after", count: 1)
        },
        .init(name: "every call 0.4 s slow (inside the deadline)", expect: .succeeds) { e, _ in try e.fault(mode: "delay", delayMs: 400) },
        // The assignment reaches EC2 after the plugin's deadline: it lands after ADD has failed and rolled back.
        .init(name: "assignment delayed past the deadline", expect: .failsWith11, lateMs: (timeout + 2) * 1000) { e, t in
            try e.fault(action: "AssignPrivateIpAddresses", mode: "delay", delayMs: (t + 2) * 1000)
        },
    ]
}

extension FaultsCampaignTests {
    /// EC2 trouble through the emulator's fault proxy, table-driven over fault kinds × IPAM modes
    /// that talk to EC2. Per row, with the fault on: pod B's ADD either succeeds within its deadline or fails
    /// with code 11 and a full rollback (no link, no record); pod A's DEL (its ADD ran before the fault) and pod
    /// B's DEL always exit 0 within DEL's EC2 budget. Right after the DELs, under the fault, and again once it
    /// cleared and late calls landed, everything EC2 holds on the ENI is in a ledger entry, a queued release or
    /// the held-prefix list (`ec2InvariantProblems`), but for what the design hands to the reconcile (a prefix
    /// whose logged return failed, a count-based assignment that landed after ADD's deadline or whose reply was
    /// lost). Then one GC with a non-zero
    /// reconcile grace (so it cannot hide a leak), the same check, one reconcile pass only if that leftover
    /// exists, and nothing is left: no link, no state, no queued release, nothing on the ENI.
    ///
    /// In prefix mode a steady-state ADD makes no EC2 call (a held prefix has room), so there pod B is the first
    /// pod of the network: its ADD must take a prefix under the fault, and its DEL returns the emptied prefix
    /// under the fault.
    @Suite(.serialized)
    struct EC2Faults {
        static let emulator = Result { try EC2Emulator() }

        @Test("fault kinds × IPAM modes: ADD succeeds in time or fails with 11 and rolls back; DEL always succeeds; releases happen",
              arguments: [CampaignMode.rangesENI, .ec2, .prefix])
        func faultTable(_ mode: CampaignMode) throws {
            let problems = try CampaignGate.exclusive { try Self.table(mode, kinds: EC2FaultKind.all) }
            for p in problems { Issue.record(Comment(rawValue: p)) }
        }

        /// Tests of the tests: the fault table's EC2 invariant (what EC2 holds ⊆ ledger ∪ queue ∪ held
        /// prefixes, checked right after the DELs under the fault, again once it cleared, and after a GC with the
        /// campaign's non-zero grace) catches a DEL that neither releases nor queues while EC2 fails
        /// (`ENI_MULTUS_MUTANT=del.skip-queue`, `ec2` mode, HTTP 500 on every call) and a prefix dropped from the
        /// held list but not returned (`del.prefix.skip-return`, `prefix` mode, every call 0.4 s slow). One row each.
        @Test("the fault table's EC2 invariant catches a DEL that neither releases nor queues, and a prefix dropped but not returned",
              arguments: [(Mutants.delSkipsQueue, CampaignMode.ec2, "HTTP 500 on every call"),
                          (Mutants.prefixSkipsReturn, CampaignMode.prefix, "every call 0.4 s slow (inside the deadline)")])
        func invariantCatchesMutant(_ mutant: String, _ mode: CampaignMode, _ kindName: String) throws {
            let kind = try #require(EC2FaultKind.all.first { $0.name == kindName })
            let problems = try CampaignGate.exclusive { try Self.table(mode, kinds: [kind], mutant: mutant) }
            #expect(problems.contains { $0.contains(CampaignNode.invariantMarker) && $0.contains("after the DELs") },
                    "the invariant did not report the mutant \(mutant): \(problems)")
        }

        /// Runs the table's rows for `kinds` and returns every problem. `mutant`: ENI_MULTUS_MUTANT for the DELs.
        static func table(_ mode: CampaignMode, kinds: [EC2FaultKind], mutant: String? = nil) throws -> [String] {
            let started = Date()
            let emu = try Self.emulator.get()
            let ec2 = try CampaignEC2.make(emu)
            defer { try? emu.clearFaults() }
            let t = EC2FaultKind.timeout
            var lines: [String] = []
            var problems: [String] = []
            let delEnv = mutant.map { [PluginEnvironment.mutantVariable: $0] } ?? [:]
            for kind in kinds {
                let dataDir = try makeTempDir("emt-ec2f")
                let logFile = dataDir + ".log"
                defer { _ = Shell.run(["rm", "-rf", dataDir, logFile]) }
                let a = try CampaignNode(tag: "fa", mac: ec2.mac, dataDir: dataDir, ec2: ec2)
                defer { a.close() }
                let b = try CampaignNode(tag: "fb", mac: ec2.mac, dataDir: dataDir, ec2: ec2)
                defer { b.close() }
                let conf = mode.conf(dataDir: dataDir, ec2: ec2, timeout: t, logFile: logFile)
                let row = "\(kind) × \(mode)"
                func problem(_ s: String) { problems.append("\(row): \(s)") }
                /// What the design hands to the reconcile in this row, and only that: in prefix mode a prefix whose
                /// return to EC2 failed under the fault (DEL forgets first, logs the failure); in ec2 and prefix mode
                /// a count-based assignment the plugin never saw (it landed after ADD's deadline, or its reply was
                /// lost: no record can own what EC2 chose), at most one.
                func allowedLeftover() -> CampaignNode.Unaccounted {
                    guard let u = try? a.unaccountedInEC2() else { return CampaignNode.Unaccounted() }
                    var out = CampaignNode.Unaccounted()
                    if mode == .prefix {
                        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                        let failed = log.split(separator: "\n").filter { $0.contains("to EC2 failed (the reconcile returns them)") }
                        out.prefixes = u.prefixes.filter { p in failed.contains { $0.contains(p) } }
                    }
                    let unseen = kind.lateMs > 0 || kind.lostReply
                    if unseen && mode == .ec2 && u.addresses.count <= 1 { out.addresses = u.addresses }
                    if unseen && mode == .prefix && u.prefixes.count - out.prefixes.count <= 1 { out.prefixes = u.prefixes }
                    return out
                }

                try emu.clearFaults()
                let withA = mode != .prefix
                if withA {
                    let setup = a.exec("ADD", conf: conf, containerID: "fault-a")
                    guard setup.status == 0 else { problem("ADD before the fault failed: \(setup)"); continue }
                }

                let faultStart = Date()
                try kind.install(emu, t)
                let add = b.exec("ADD", conf: conf, containerID: "fault-b")
                var outcome: String
                if add.status == 0 {
                    outcome = "ADD ok in \(String(format: "%.1f", add.seconds)) s"
                    if kind.expect == .failsWith11 { problem("ADD succeeded, expected code 11") }
                    if add.seconds > EC2FaultKind.addPromise {
                        problem("ADD broke its deadline promise: returned after \(add.seconds) s, promised within ec2TimeoutSeconds (\(t) s) + \(EC2FaultKind.promiseMargin) s")
                    }
                    if CampaignNode.resultAddresses(add).isEmpty { problem("ADD result without address: \(add.stdout)") }
                } else {
                    let code = CampaignNode.errorCode(add)
                    outcome = "ADD code \(code.map(String.init) ?? "?") in \(String(format: "%.1f", add.seconds)) s"
                    if code != 11 { problem("ADD failed with code \(code.map(String.init) ?? "none"), expected 11: \(add)") }
                    if kind.expect == .succeeds { problem("ADD failed, expected success: \(add)") }
                    if add.seconds > EC2FaultKind.addPromise {
                        problem("failing ADD broke its deadline promise: returned after \(add.seconds) s, promised within ec2TimeoutSeconds (\(t) s) + \(EC2FaultKind.promiseMargin) s")
                    }
                    // The rollback: nothing in the pod, the device home, no record of the attachment.
                    for k in b.kernelLeaks() { problem("after the failed ADD: \(k)") }
                    for dir in ["attachments", "ec2/ledger", "links"]
                    where FileManager.default.fileExists(atPath: "\(dataDir)/\(CampaignMode.network)/\(dir)/fault-b:net1") {
                        problem("after the failed ADD: \(dir)/fault-b:net1 is left")
                    }
                    let ips = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDir)/\(CampaignMode.network)/ips")) ?? [])
                        .filter { !$0.hasPrefix(".") }
                    if ips.count > (withA ? 1 : 0) { problem("after the failed ADD: reservations \(ips) (only pod A's expected)") }
                }
                // DEL always succeeds, within DEL's own EC2 budget (5 s), fault or not.
                let delA = withA ? a.exec("DEL", conf: conf, containerID: "fault-a", env: delEnv) : nil
                let delB = b.exec("DEL", conf: conf, containerID: "fault-b", env: delEnv)
                for (who, d) in [("A", delA), ("B", delB)] {
                    guard let d else { continue }
                    if d.status != 0 { problem("DEL \(who) failed: \(d)") }
                    if d.seconds > EC2FaultKind.delPromise {
                        problem("DEL \(who) broke its budget promise: returned after \(d.seconds) s, promised within 5 s + \(EC2FaultKind.promiseMargin) s")
                    }
                }
                // Before any GC, the fault still on: nothing is on the ENI that the store does not account for.
                problems += a.ec2InvariantProblems("after the DELs, under the fault", allowing: allowedLeftover()).map { "\(row): \($0)" }
                let queued = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dataDir)/\(CampaignMode.network)/ec2/queue")) ?? [])
                    .filter { !$0.hasPrefix(".") }.count
                let heldNow = (try? ec2.held()).map { $0.addresses.count + $0.prefixes.count } ?? -1
                outcome += "; DEL\(withA ? "s" : "") ok in \(delA.map { String(format: "%.1f/", $0.seconds) } ?? "")\(String(format: "%.1f", delB.seconds)) s"
                    + (queued > 0 ? ", \(queued) release(s) queued" : "") + (heldNow > 0 ? ", \(heldNow) still on the ENI" : "")

                // The fault clears; calls held back land; the next invocation (GC) finishes the releases. A release
                // queued by a failed registration is due once the ADD's deadline has passed again after it (time
                // for a late assignment to land first).
                try emu.clearFaults()
                let addEnd = faultStart.addingTimeInterval(add.seconds)
                let due = add.status == 0 || mode != .rangesENI ? faultStart : addEnd.addingTimeInterval(Double(t))
                // (A held-back call reaches the proxy up to a second after the fault went on: the ADD reads IMDS first.)
                let late = kind.lateMs > 0 ? faultStart.addingTimeInterval(Double(kind.lateMs) / 1000 + 1.5) : faultStart
                let land = max(late, due).addingTimeInterval(0.5).timeIntervalSinceNow
                if land > 0 { usleep(useconds_t(land * 1_000_000)) }
                // The fault cleared, late calls landed, still no GC: EC2 ⊆ what the store owns.
                let left = allowedLeftover()
                problems += a.ec2InvariantProblems("after the DELs, the fault cleared, before GC", allowing: left).map { "\(row): \($0)" }
                // GC with the campaign's non-zero reconcile grace: it drains the queue and returns empty prefixes,
                // and unassigns nothing unowned, so whatever it leaves is a leak (or the allowed leftover).
                let gc = a.exec("GC", conf: mode.conf(dataDir: dataDir, ec2: ec2, timeout: t, gc: []), containerID: "")
                if gc.status != 0 { problem("GC after the fault failed: \(gc)") }
                problems += a.ec2InvariantProblems("after GC (grace \(CampaignMode.reconcileGrace) s)", allowing: left).map { "\(row): \($0)" }
                if !left.isEmpty || mutant != nil {
                    // The leftover the design hands to the reconcile (or a companion's mutant's): one pass, grace 0.
                    let r = a.exec("GC", conf: mode.conf(dataDir: dataDir, ec2: ec2, timeout: t, gc: [], reconcile: true), containerID: "")
                    if r.status != 0 { problem("reconcile GC failed: \(r)") }
                    outcome += "; reconcile returned \(left.addresses + left.prefixes)"
                }
                let leaks = a.kernelLeaks() + b.kernelLeaks() + a.stateLeaks() + a.ec2Leaks()
                for l in leaks { problem("after GC: \(l)") }
                outcome += leaks.isEmpty ? "; after GC nothing left" : "; LEAKS: \(leaks.count)"
                lines.append("  \(row): \(outcome)")
            }
            print((["faults/ec2 [\(mode)]\(mutant.map { " companion, mutant \($0)" } ?? ""): \(kinds.count) fault kinds, deadline \(t) s,"
                    + " \(problems.count) problems, \(secondsSince(started)) s"] + lines).joined(separator: "\n"))
            return problems
        }
    }
}
