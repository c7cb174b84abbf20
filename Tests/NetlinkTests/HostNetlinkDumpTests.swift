import Foundation
import Glibc
import NetTypes
import Testing

import Netlink
import TestSupport

/// A stop flag shared with the background modifier thread, and what the modifier did.
private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var finished = false
    private var changes = 0
    private var errors: [String] = []
    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    var isFinished: Bool { lock.withLock { finished } }
    func finish() { lock.withLock { finished = true } }
    func changed() { lock.withLock { changes += 1 } }
    func failed(_ e: String) { lock.withLock { if errors.count < 5 { errors.append(e) } } }
    var changeCount: Int { lock.withLock { changes } }
    var errorList: [String] { lock.withLock { errors } }
}

@Suite("HostNetlinkDumps: large and concurrently changing dumps", .serialized, .tier())
struct HostNetlinkDumpTests {
    /// What one run of the concurrent-dump check found: problems (empty when it holds), the modifier's changes
    /// during the dumps, and how many dumps the kernel interrupted (NLM_F_DUMP_INTR) and the socket repeated.
    struct DumpRun { var problems: [String]; var changes: Int; var interrupted: Int }

    /// 600 addresses on a link; 40 dumps of them while another thread, on its own socket, adds and deletes one
    /// more. Every dump must see 600 or 601, and the modifier must have changed something during the dumps (else
    /// there was no concurrency to survive): its socket failing or any change failing is a problem, never
    /// silently ignored. `breakModifier` (for the companion test) makes every change fail (index 0 is no link).
    static func concurrentDumps(breakModifier: Bool = false) throws -> DumpRun {
        var run = DumpRun(problems: [], changes: 0, interrupted: 0)
        try withVethNamespace { ns, socket, a, _ in
            let count = 600
            for i in 0..<count {
                try socket.addAddress(pfx("10.\(100 + i / 250).\(i % 250).1/32"), index: a.index)
            }
            #expect(try socket.addresses(index: a.index).count == count)

            let flag = StopFlag()
            let fd = dup(ns.fd)
            let index = breakModifier ? 0 : a.index
            let modifier = Thread {
                defer { flag.finish() }
                let ns = NetNS(adopting: fd)
                let other: RouteSocket
                do { other = try RouteSocket(in: ns) } catch { flag.failed("modifier socket: \(error)"); return }
                let extra = pfx("10.99.0.1/32")
                while !flag.isStopped {
                    do {
                        try other.addAddress(extra, index: index)
                        flag.changed()
                        usleep(1000)
                        try other.deleteAddress(extra, index: index)
                        flag.changed()
                        usleep(1000)
                    } catch {
                        flag.failed("modifier change: \(error)")
                        return
                    }
                }
            }
            modifier.start()
            defer {
                flag.stop()
                while !flag.isFinished { usleep(1000) }
            }
            // The dumps start once the modifier has made its first change (or given up).
            while flag.changeCount == 0 && !flag.isFinished { usleep(500) }
            let before = flag.changeCount
            for _ in 0..<40 {
                let n = try socket.addresses(index: a.index).count
                if n != count && n != count + 1 { run.problems.append("a dump saw \(n) addresses, expected \(count) or \(count + 1)") }
            }
            run.changes = flag.changeCount - before
            flag.stop()
            while !flag.isFinished { usleep(1000) }
            run.problems += flag.errorList
            if run.changes == 0 { run.problems.append("the modifier made no change during the 40 dumps: nothing was concurrent") }
            run.interrupted = socket.interruptedDumpCount
        }
        return run
    }

    @Test("address dumps stay complete while another thread keeps changing addresses")
    func concurrentChanges() throws {
        let run = try Self.concurrentDumps()
        for p in run.problems { Issue.record(Comment(rawValue: p)) }
        print("HostNetlinkDumps: 40 dumps of 600 addresses, \(run.changes) changes by the other thread meanwhile,"
              + " \(run.interrupted) interrupted dumps repeated")
    }

    /// Test of the test: with a modifier whose every change fails, the check reports it.
    @Test("the concurrent-dump check fails when the other thread changes nothing")
    func concurrentCheckNoticesAnIdleModifier() throws {
        let run = try Self.concurrentDumps(breakModifier: true)
        #expect(run.changes == 0)
        #expect(run.problems.contains { $0.contains("modifier change") }, "\(run.problems)")
        #expect(run.problems.contains { $0.contains("made no change") }, "\(run.problems)")
    }

    @Test("route dump over many datagrams")
    func manyRoutes() throws {
        try withVethNamespace { _, socket, a, b in
            try bringUp(socket, a, b)
            for i in 0..<800 {
                try socket.addRoute(Route(destination: pfx("172.\(16 + i / 250).\(i % 250).0/24"), outputIndex: a.index))
            }
            let routes = try socket.routes().filter { $0.destination.address.isV4 }
            #expect(routes.count == 800)
        }
    }
}
