#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
import ENIMultusCore
import JSON
import NetTypes
import TestSupport
@testable import ENIAddressing

extension FaultsCampaignTests {
    /// 64 ADDs at once on one network (64 processes of the binary, distinct containers), then 64
    /// DELs at once, for each IPAM mode. Every address is unique, the store is consistent (records ↔ address
    /// files ↔ ledger), EC2's state equals the store, and nothing is left after the DELs.
    ///
    /// Link mode: host-device, the one the host kernel supports. One ENI cannot be moved into 64 pods, so each
    /// ADD runs in its own node netns holding its own stand-in `eni0` (on EC2 networks all 64 carry the ENI's
    /// MAC, and IMDS/EC2 are the same instance and ENI for all): the 64 processes share what concurrency can break
    /// — the state directory, its locks, the EC2 ledger and queue, the held prefixes, the ENI in EC2 — with the
    /// same network config byte for byte, as 64 ipvlan slaves of one ENI would.
    @Suite(.serialized)
    struct Concurrency {
        static let parallel = 64
        static let emulator = Result { try EC2Emulator() }

        final class Results: Sendable {
            let items = Mutex<[Int: ChildResult]>([:])
            func set(_ i: Int, _ r: ChildResult) { items.withLock { $0[i] = r } }
            var all: [Int: ChildResult] { items.withLock { $0 } }
        }

        /// Runs `body(i)` for every i at once (the threads start together) and returns the results.
        static func together(_ indices: [Int], _ body: @escaping @Sendable (Int) -> ChildResult) -> [Int: ChildResult] {
            let results = Results()
            let gate = DispatchSemaphore(value: 0)
            let ready = DispatchGroup()
            let group = DispatchGroup()
            for i in indices {
                ready.enter()
                group.enter()
                let t = Thread {
                    ready.leave()
                    gate.wait()
                    results.set(i, body(i))
                    group.leave()
                }
                t.stackSize = 1 << 20
                t.start()
            }
            ready.wait()
            for _ in indices { gate.signal() }
            group.wait()
            return results.all
        }

        @Test("64 parallel ADDs, then 64 parallel DELs, on one network", arguments: [CampaignMode.ranges, .rangesENI, .ec2, .ec2Warm, .prefix])
        func parallelAddsThenDels(_ mode: CampaignMode) throws {
            try CampaignGate.shared { try parallelAddsThenDelsGated(mode) }
        }

        func parallelAddsThenDelsGated(_ mode: CampaignMode) throws {
            let problems = try Self.campaign(mode)
            for p in problems.prefix(20) { Issue.record(Comment(rawValue: p)) }
        }

        /// Tests of the tests: the concurrency campaign's EC2 invariant, checked after the parallel DELs
        /// and before any GC (then again after a GC with the campaign's non-zero grace), catches a DEL that forgets
        /// its ledger entry without queueing the release while EC2 refuses it (`ENI_MULTUS_MUTANT=del.skip-queue`,
        /// `ec2` mode, every unassign answered with HTTP 500 during the DELs) and a DEL that drops an empty prefix
        /// without returning it (`del.prefix.skip-return`, `prefix` mode). 8 parallel pods each.
        @Test("the concurrency campaign's EC2 invariant catches a DEL that neither releases nor queues, and a prefix dropped but not returned",
              arguments: [(Mutants.delSkipsQueue, CampaignMode.ec2), (Mutants.prefixSkipsReturn, CampaignMode.prefix)])
        func invariantCatchesMutant(_ mutant: String, _ mode: CampaignMode) throws {
            try CampaignGate.shared {
                let problems = try Self.campaign(mode, parallel: 8, mutant: mutant, unassignFails: mode == .ec2)
                #expect(problems.contains { $0.contains(CampaignNode.invariantMarker) && $0.contains("before GC") },
                        "the invariant did not report the mutant \(mutant): \(problems)")
            }
        }

        /// One campaign row; returns its problems. `mutant`: ENI_MULTUS_MUTANT for the DELs; `unassignFails`: EC2
        /// answers every unassign with HTTP 500 during the DELs (so each DEL takes its EC2-unreachable path).
        static func campaign(_ mode: CampaignMode, parallel n: Int = Self.parallel, mutant: String? = nil,
                             unassignFails: Bool = false) throws -> [String] {
            let started = Date()
            let dataDir = try makeTempDir("emt-par")
            defer { _ = Shell.run(["rm", "-rf", dataDir]) }
            let ec2 = mode.usesEC2 ? try CampaignEC2.make(try Self.emulator.get()) : nil
            // The emulator answers IMDS in one Python process (tens of ms per read) and 64 ADDs ask it ~800 times at
            // once: a real IMDS answers in microseconds. So each read may wait (AWS_METADATA_SERVICE_TIMEOUT, the
            // SDKs' setting, 1 s by default) and the ADD's EC2 deadline is long; the work itself is unchanged.
            let conf = mode.conf(dataDir: dataDir, ec2: ec2, timeout: 90)
            let slowIMDS = ["AWS_METADATA_SERVICE_TIMEOUT": "60"]
            let made = Locked<[Int: CampaignNode]>([:])
            let failures = ProblemLog()
            onThreads(8) { w in
                for i in stride(from: w, to: n, by: 8) {
                    do {
                        let node = try CampaignNode(tag: String(format: "%02d", i), mac: ec2?.mac ?? String(format: "02:ee:01:00:00:%02x", i),
                                                    dataDir: dataDir, ec2: ec2)
                        made.withLock { $0[i] = node }
                    } catch { failures.add("node \(i): \(error)") }
                }
            }
            let nodes = made.withLock { $0 }
            defer { for node in nodes.values { node.close() } }
            guard failures.all.isEmpty && nodes.count == n else { return ["fixture: \(failures.all.prefix(3))"] }
            let setup = Date().timeIntervalSince(started)
            var problems: [String] = []

            // ADD, 64 at once; ADDs that fail with code 11 (EC2 or IMDS too slow under this load: "try again later")
            // must have rolled back completely, and are retried together, as the runtime would.
            // EC2's own latency for a mutating call (100–300 ms on AWS; the emulator answers in milliseconds): with
            // it, what the node agent merges is what it would merge on a node. Then: how many Assign calls for n ADDs.
            let counting = try mutant == nil ? ec2.map { _ in try Self.emulator.get() } : nil
            if let e = counting {
                for action in ["AssignPrivateIpAddresses", "AssignIpv6Addresses"] {
                    _ = try e.fault(action: action, mode: "delay", delayMs: 150)
                }
                try e.resetCounts()
            }
            var pending = Array(0..<n)
            var ok: [Int: ChildResult] = [:]
            var rounds: [String] = []
            let addStart = Date()
            for round in 1...6 where !pending.isEmpty {
                let res = Self.together(pending) { i in nodes[i]!.exec("ADD", conf: conf, containerID: "par-\(i)", env: slowIMDS, timeout: 180) }
                var failed: [Int] = []
                var codes: [Int64: Int] = [:]
                for (i, r) in res {
                    if r.status == 0 { ok[i] = r; continue }
                    let code = CampaignNode.errorCode(r) ?? -1
                    codes[code, default: 0] += 1
                    guard code == 11 else { problems.append("ADD par-\(i) failed: \(r)"); continue }
                    failed.append(i)
                    // The rollback: nothing in the pod, the device home, no record of this attachment.
                    let node = nodes[i]!
                    let k = node.kernelLeaks()
                    if !k.isEmpty { problems.append("ADD par-\(i) failed with code 11 and left \(k)") }
                    let key = "par-\(i):net1"
                    for dir in ["attachments", "ec2/ledger", "links"] where FileManager.default.fileExists(atPath: "\(dataDir)/\(CampaignMode.network)/\(dir)/\(key)") {
                        problems.append("ADD par-\(i) failed with code 11 and left \(dir)/\(key)")
                    }
                }
                rounds.append("round \(round): \(pending.count) ADDs, \(pending.count - failed.count) ok"
                              + (codes.isEmpty ? "" : ", failed: " + codes.sorted { $0.key < $1.key }.map { "\($0.value)× code \($0.key)" }.joined(separator: ", ")))
                pending = failed.sorted()
            }
            let addSeconds = Date().timeIntervalSince(addStart)
            var assignLine = ""
            if let e = counting {
                let calls = try e.counts()["AssignPrivateIpAddresses"] ?? 0
                try e.clearFaults()
                assignLine = "; \(calls) AssignPrivateIpAddresses calls for the \(n) ADDs (EC2 latency 150 ms)"
                // 64 concurrent ADDs on one ENI in per-IP mode make at most 8 Assign calls.
                if mode == .rangesENI && calls > n / 8 {
                    problems.append("\(calls) AssignPrivateIpAddresses calls for \(n) concurrent ADDs on one ENI (at most \(n / 8))")
                }
            }
            if !pending.isEmpty { problems.append("ADDs still failing after 6 rounds: \(pending)") }

            // Every address unique; each pod carries its own.
            var owner: [String: Int] = [:]
            for (i, r) in ok {
                let a = CampaignNode.resultAddresses(r)
                if a.count != 1 { problems.append("par-\(i): \(a.count) addresses in the result") }
                for x in a {
                    if let o = owner.updateValue(i, forKey: x) { problems.append("\(x) handed to par-\(o) and par-\(i)") }
                }
                let have = nodes[i]!.addresses(in: nodes[i]!.pod, "net1").map(\.description)
                if Set(have) != Set(a) { problems.append("par-\(i): result \(a), net1 has \(have)") }
            }
            let plain = Set(owner.keys.map { String($0.split(separator: "/")[0]) })
            // The store: records ↔ address files (ranges and prefix), ledger entries (EC2 registration, ec2 mode).
            let storeProblems = Self.storeProblems(mode, dataDir: dataDir, ok: ok)
            problems += storeProblems
            // EC2 equals the store.
            var ec2Line = ""
            if let ec2 {
                let h = try ec2.held()
                if mode == .prefix {
                    let before = problems.count
                    let file = (try? String(contentsOfFile: "\(dataDir)/\(CampaignMode.network)/ec2/prefixes", encoding: .utf8)) ?? ""
                    let recorded = Set(file.split(separator: "\n").compactMap { l in
                        l.split(separator: " ").first { $0.hasPrefix("p=") }.map { String($0.dropFirst(2)) } })
                    if Set(h.prefixes) != recorded { problems.append("EC2 prefixes \(h.prefixes) ≠ recorded \(recorded.sorted())") }
                    if !h.addresses.isEmpty { problems.append("EC2 holds secondary addresses \(h.addresses) in prefix mode") }
                    let pfx = h.prefixes.compactMap { IPPrefix($0) }
                    for a in plain where !pfx.contains(where: { $0.contains(IPAddress(a)!) }) {
                        problems.append("\(a) lies in no prefix held on the ENI")
                    }
                    ec2Line = problems.count == before ? "EC2 holds \(h.prefixes.count) /28 prefixes = the held-prefix list, every address inside them"
                                               : "EC2 differs from the held-prefix list or the addresses"
                } else if mode == .ec2Warm {
                    // The pool's refills: EC2 holds the pods' addresses plus the pool and the excess queued for
                    // release (concurrent refills), every one owned; the pool within warmAddresses.
                    let store = nodes[0]!.storeAccount()
                    let held = Set(h.addresses.compactMap { IPAddress($0).map { "\($0)" } })
                    let pods = Set(plain.compactMap { IPAddress($0).map { "\($0)" } })
                    if !pods.isSubset(of: held) { problems.append("pods' addresses \(pods.subtracting(held).sorted()) not on the ENI") }
                    if held != store.addresses { problems.append("EC2 holds \(held.symmetricDifference(store.addresses).sorted()) beyond the store, or the store more") }
                    if store.warm.count > CampaignMode.warm { problems.append("warm pool of \(store.warm.count) > \(CampaignMode.warm)") }
                    ec2Line = "EC2 holds the \(plain.count) pods' addresses, \(store.warm.count) warm and \(store.queued.count) refill excess queued: all owned"
                } else {
                    if Set(h.addresses) != plain || h.addresses.count != plain.count {
                        problems.append("EC2 holds \(h.addresses.count) addresses \(Set(h.addresses).symmetricDifference(plain).sorted()) differ from the store's \(plain.count)")
                        ec2Line = "EC2 differs from the ledger"
                    } else {
                        ec2Line = "EC2 holds exactly the \(h.addresses.count) addresses of the ledger"
                    }
                }
            }

            // DEL, n at once: every one succeeds.
            let emu = try ec2.map { _ in try Self.emulator.get() }
            if unassignFails, let emu {
                _ = try emu.fault(action: "UnassignPrivateIpAddresses", mode: "error500")
                _ = try emu.fault(action: "UnassignIpv6Addresses", mode: "error500")
            }
            let delEnv = slowIMDS.merging(mutant.map { [PluginEnvironment.mutantVariable: $0] } ?? [:]) { _, b in b }
            let delStart = Date()
            let dels = Self.together(Array(0..<n)) { i in nodes[i]!.exec("DEL", conf: conf, containerID: "par-\(i)", env: delEnv, timeout: 180) }
            let delSeconds = Date().timeIntervalSince(delStart)
            if unassignFails, let emu { try emu.clearFaults() }
            for (i, r) in dels where r.status != 0 { problems.append("DEL par-\(i) failed: \(r)") }
            var leaks = nodes.sorted { $0.key < $1.key }.flatMap { i, node in node.kernelLeaks().map { "node \(i): \($0)" } }
            var drained = ""
            // Before any GC: what EC2 holds is accounted for by the ledger, the release queue or the held prefixes.
            problems += nodes[0]!.ec2InvariantProblems("before GC, after the \(n) DELs")
            var state = nodes[0]!.stateLeaks() + nodes[0]!.ec2Leaks()
            if !state.isEmpty && ec2 != nil {
                // DEL gives EC2 at most 5 s and then queues the release (README); 64 DELs at once at this emulator
                // take longer. Anything else left here is a leak. The next invocation (a GC here, with the campaign's
                // non-zero reconcile grace: it drains the queue and unassigns nothing unowned) drains the queue.
                let queued = state.filter { $0.contains("/ec2/queue/") }.count
                let other = state.filter { !$0.contains("/ec2/queue/") && !$0.hasPrefix("EC2:") }
                problems += other.map { "after the DELs: \($0)" }
                let held = (try? ec2!.held().addresses.count) ?? -1
                drained = "; \(queued) releases queued by DEL"
                    + (queued > 0 ? " (EC2 slower than DEL's 5 s budget under this load)" : "")
                    + ", \(held) addresses on the ENI before one GC drained the queue"
                let g = nodes[0]!.exec("GC", conf: mode.conf(dataDir: dataDir, ec2: ec2, timeout: 90, gc: []), containerID: "",
                                       env: slowIMDS, timeout: 180)
                if g.status != 0 { problems.append("GC failed: \(g)") }
                problems += nodes[0]!.ec2InvariantProblems("after GC (grace \(CampaignMode.reconcileGrace) s)")
                state = nodes[0]!.stateLeaks() + nodes[0]!.ec2Leaks()
            }
            leaks += state
            problems += leaks
            print("faults/concurrency [\(mode)]\(mutant.map { " companion, mutant \($0)" } ?? ""): \(n) ADDs in parallel (\(rounds.joined(separator: "; "))) in"
                  + " \(String(format: "%.1f", addSeconds)) s\(assignLine); \(owner.count) unique addresses;"
                  + (storeProblems.isEmpty ? " store consistent" : " \(storeProblems.count) store problems")
                  + "\(ec2Line.isEmpty ? "" : "; " + ec2Line); \(n) DELs in parallel: \(dels.values.filter { $0.status == 0 }.count) ok in"
                  + " \(String(format: "%.1f", delSeconds)) s; \(leaks.count) leaks\(drained); setup \(String(format: "%.1f", setup)) s,"
                  + " total \(secondsSince(started)) s")
            if owner.count != n { problems.append("\(owner.count) unique addresses for \(n) pods") }
            if !leaks.isEmpty || !problems.isEmpty, mutant != nil, ec2 != nil {
                // A companion's mutant leaves addresses or prefixes behind: one reconcile pass returns them.
                _ = nodes[0]!.exec("GC", conf: mode.conf(dataDir: dataDir, ec2: ec2, timeout: 90, gc: [], reconcile: true),
                                   containerID: "", env: slowIMDS, timeout: 180)
            }
            return problems
        }

        /// Records ↔ address files ↔ ledger, against the successful results.
        static func storeProblems(_ mode: CampaignMode, dataDir: String, ok: [Int: ChildResult]) -> [String] {
            var out: [String] = []
            let root = "\(dataDir)/\(CampaignMode.network)"
            let fm = FileManager.default
            func list(_ d: String) -> [String] { ((try? fm.contentsOfDirectory(atPath: "\(root)/\(d)")) ?? []).filter { !$0.hasPrefix(".") } }
            func read(_ p: String) -> String { (try? String(contentsOfFile: "\(root)/\(p)", encoding: .utf8)) ?? "" }
            func ips(_ text: String) -> Set<String> {
                Set(text.split(separator: "\n").filter { $0.hasPrefix("ip=") }.map { String($0.dropFirst(3)) })
            }
            var expected: [String: Set<String>] = [:]
            for (i, r) in ok { expected["par-\(i):net1"] = Set(CampaignNode.resultAddresses(r).map { String($0.split(separator: "/")[0]) }) }
            if mode != .ec2 && mode != .ec2Warm {
                let records = list("attachments")
                if Set(records) != Set(expected.keys) { out.append("attachment records \(records.count) ≠ \(expected.count) ADDs") }
                var files = Set(list("ips"))
                for k in records {
                    let held = ips(read("attachments/\(k)"))
                    if held != expected[k] { out.append("record \(k) lists \(held.sorted()), the result said \(expected[k]?.sorted() ?? [])") }
                    let owner = k.replacingOccurrences(of: ":", with: "\n") + "\n"
                    for a in held {
                        if read("ips/\(a)") != owner { out.append("ips/\(a) is not owned by \(k)") }
                        files.remove(a)
                    }
                }
                if !files.isEmpty { out.append("address files without a record: \(files.sorted())") }
            }
            if mode == .rangesENI || mode == .ec2 || mode == .ec2Warm {
                let entries = list("ec2/ledger")
                if Set(entries) != Set(expected.keys) { out.append("ledger entries \(entries.count) ≠ \(expected.count) ADDs") }
                for k in entries where ips(read("ec2/ledger/\(k)")) != expected[k] {
                    out.append("ledger \(k) lists \(ips(read("ec2/ledger/\(k)")).sorted()), the result said \(expected[k]?.sorted() ?? [])")
                }
            }
            return out
        }
    }
}
