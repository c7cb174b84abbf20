import Foundation
import Glibc
import NetTypes
import Testing

import Netlink

/// A stop flag shared with the background modifier thread.
private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var finished = false
    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    var isFinished: Bool { lock.withLock { finished } }
    func finish() { lock.withLock { finished = true } }
}

@Suite("HostNetlinkDumps: large and concurrently changing dumps", .serialized, .enabled(if: isRoot))
struct HostNetlinkDumpTests {
    @Test("address dumps stay complete while another thread keeps changing addresses")
    func concurrentChanges() throws {
        try withVethNamespace { ns, socket, a, _ in
            let count = 600
            for i in 0..<count {
                try socket.addAddress(pfx("10.\(100 + i / 250).\(i % 250).1/32"), index: a.index)
            }
            #expect(try socket.addresses(index: a.index).count == count)

            let flag = StopFlag()
            let fd = dup(ns.fd)
            let index = a.index
            let modifier = Thread {
                defer { flag.finish() }
                let ns = NetNS(adopting: fd)
                guard let other = try? RouteSocket(in: ns) else { return }
                let extra = pfx("10.99.0.1/32")
                while !flag.isStopped {
                    try? other.addAddress(extra, index: index)
                    usleep(1000)
                    try? other.deleteAddress(extra, index: index)
                    usleep(1000)
                }
            }
            modifier.start()
            defer {
                flag.stop()
                while !flag.isFinished { usleep(1000) }
            }
            for _ in 0..<40 {
                let n = try socket.addresses(index: index).count
                #expect(n == count || n == count + 1)
            }
            print("HostNetlinkDumps: \(socket.interruptedDumpCount) interrupted dumps repeated")
        }
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
