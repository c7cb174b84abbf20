// Several processes allocating from one store at the same time.
//
// Each worker is a separate process: a re-execution of this test binary that runs only
// `UnitIPAMMultiProcessWorker/worker`, which calls `IPAMWorker.run` (see IPAMTestHelpers.swift for why not fork()).
// All workers are released together; afterwards the parent checks every report and the store's invariants.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Testing
@testable import IPAM
import CNI
import NetTypes

/// The entry point of worker processes. A no-op (passing) test in a normal run.
@Suite struct UnitIPAMMultiProcessWorker {
    @Test func worker() {
        let env = ProcessInfo.processInfo.environment
        guard env["EMT_IPAM_WORKER_MODE"] != nil, let out = env["EMT_IPAM_WORKER_OUT"] else { return }
        let report = IPAMWorker.run(env)
        writeFile(out + ".tmp", report)
        rename(out + ".tmp", out)
    }
}

@Suite(.serialized) struct UnitIPAMMultiProcessTests {
    @Test func tenProcessesAllocateUniqueAddresses() throws {
        try withTempDir { (d: String) throws in
            let ranges = #"[[{"subnet":"10.100.0.0/24"}]]"#            // 253 assignable
            let a = RangeAllocator(config: rangesConfig(d, ranges), network: "net1")
            let per = 20
            let results = runWorkers((0..<10).map { _ in WorkerSpec(mode: "alloc", dataDir: d, ranges: ranges, count: per) })
            var seen: [String: String] = [:]
            for (w, r) in results.enumerated() {
                #expect(r.exitCode == 0, "worker \(w) status \(r.status)")
                guard let out = r.output else { Issue.record("worker \(w) wrote no report"); continue }
                let lines = out.split(separator: "\n")
                #expect(lines.count == per, "worker \(w): \(out)")
                for l in lines {
                    let p = l.split(separator: " ").map(String.init)
                    guard p.count == 3, p[0] == "OK" else { Issue.record("worker \(w): \(l)"); continue }
                    if let other = seen[p[2]] { Issue.record("\(p[2]) given to both \(other) and \(p[1])") }
                    seen[p[2]] = p[1]
                }
            }
            #expect(seen.count == 10 * per)
            let (problems, held) = storeProblems(a)
            #expect(problems == [])
            #expect(held.count == 10 * per)
            for (k, ips) in held { #expect(seen[ips.first?.description ?? ""] == k.containerID) }
            // Round-robin from .2 without gaps: exactly .2 ... .201, and the cursor at the last one.
            #expect(Set(seen.keys) == Set((2...201).map { "10.100.0.\($0)" }))
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.100.0.201")
        }
    }

    @Test func concurrentAllocationsExhaustExactlyOnce() throws {
        try withTempDir { (d: String) throws in
            let ranges = #"[[{"subnet":"10.101.0.0/24","rangeStart":"10.101.0.10","rangeEnd":"10.101.0.59"}]]"#  // 50
            let a = RangeAllocator(config: rangesConfig(d, ranges), network: "net1")
            let results = runWorkers((0..<8).map { _ in WorkerSpec(mode: "alloc", dataDir: d, ranges: ranges, count: 10) })
            var ok: [String] = [], exhausted = 0
            for (w, r) in results.enumerated() {
                #expect(r.exitCode == 0, "worker \(w) status \(r.status)")
                guard let out = r.output else { Issue.record("worker \(w) wrote no report"); continue }
                #expect(out.split(separator: "\n").count == 10, "worker \(w) reported: \(out)")
                for l in out.split(separator: "\n") {
                    let p = l.split(separator: " ").map(String.init)
                    if p[0] == "OK" { ok.append(p[2]) } else if p[0] == "EXHAUSTED" { exhausted += 1 }
                    else { Issue.record("worker \(w): \(l)") }
                }
            }
            #expect(ok.count == 50)
            #expect(Set(ok).count == 50)
            #expect(exhausted == 30)
            #expect(try a.exhaustion() != nil)
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func concurrentAllocateReleaseAndGCKeepTheStoreConsistent() throws {
        try withTempDir { (d: String) throws in
            let ranges = #"[[{"subnet":"10.102.0.0/24"}],[{"subnet":"fd00:102::/112"}]]"#
            let a = RangeAllocator(config: rangesConfig(d, ranges), network: "net1")
            // Workers 0-7 allocate 15 each and release every third; worker 8 also requests .200+j;
            // worker 9 runs GC 20 times with a valid set holding every key the others could keep.
            var specs = (0..<8).map { _ in WorkerSpec(mode: "mixed", dataDir: d, ranges: ranges, count: 15) }
            specs.append(WorkerSpec(mode: "mixed-requested", dataDir: d, ranges: ranges, count: 15))
            specs.append(WorkerSpec(mode: "gc", dataDir: d, ranges: ranges, count: 20))
            let results = runWorkers(specs)
            var kept = Set<String>()
            for (w, r) in results.enumerated() {
                #expect(r.exitCode == 0, "worker \(w) status \(r.status)")
                guard let out = r.output else { Issue.record("worker \(w) wrote no report"); continue }
                if w < 9 { #expect(out.split(separator: "\n").count == 20, "worker \(w) reported: \(out)") }
                for l in out.split(separator: "\n") {
                    let p = l.split(separator: " ").map(String.init)
                    if p[0] == "OK" { kept.insert(p[1]) } else if p[0] == "REL" { kept.remove(p[1]) }
                    else { Issue.record("worker \(w): \(l)") }
                }
            }
            let (problems, held) = storeProblems(a)
            #expect(problems == [])
            #expect(Set(held.keys.map(\.containerID)) == kept)
            #expect(kept.count == 9 * 10)
            for (k, ips) in held { #expect(ips.count == 2, "\(k) holds \(ips)") }
            let allIPs = held.values.flatMap { $0 }
            #expect(Set(allIPs).count == allIPs.count)
            for j in 0..<15 where j % 3 != 2 {
                #expect(held[key("w8-\(j)")]?.first == ip("10.102.0.\(200 + j)"))
            }
        }
    }
}
