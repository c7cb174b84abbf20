#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import AgentProtocol
import AWS
import JSON
import NetTypes
import NodeAgent
import TestSupport

/// The node agent's protocol, broker and server, in-process: every request kind on the wire, the merging of
/// concurrent mutations into one EC2 call, the client-side pacing, the one-agent lock and the root-only socket.
/// The AWS side is `ScriptedRegistry` (an in-memory ENI with switches); the real AWS path runs in the Host and
/// Faults tiers, where every EC2-registered plugin run goes through an `eni-multus-node agent` process.
@Suite("Unit: node agent")
struct UnitAgentTests {
    static let eni = "eni-0123456789abcdef0"
    static let mac = MACAddress("02:00:00:00:00:01")!

    /// A fake clock: `sleep` advances it.
    final class FakeClock: AWSClock, @unchecked Sendable {
        private let lock = NSLock()
        private var t: Double = 1000
        func now() -> Double { lock.withLock { t } }
        func monotonic() -> Double { lock.withLock { t } }
        func sleep(seconds: Double) { lock.withLock { t += seconds } }
    }

    /// An in-memory ENI: counts calls, can hold the first mutating call until released, can refuse addresses.
    final class ScriptedRegistry: DeadlineGateway, @unchecked Sendable {
        let lock = NSLock()
        var calls: [String] = []
        var assigned: [IPAddress] = []
        var inUse: Set<IPAddress> = []
        var throttle = false
        var next = 10
        /// While set, a mutating call waits until it is cleared.
        var hold = false
        var deadlines: [Double] = []

        func setDeadline(seconds: Double) { lock.withLock { deadlines.append(seconds) } }
        func note(_ c: String) throws {
            lock.withLock { calls.append(c) }
            while lock.withLock({ hold }) { usleep(1000) }
            if lock.withLock({ throttle }) {
                throw AWSError.service(code: "RequestLimitExceeded", message: "Request limit exceeded.", httpStatus: 503, requestID: nil)
            }
        }
        func instanceENIs() throws -> [InstanceENI] { [InstanceENI(mac: UnitAgentTests.mac, id: UnitAgentTests.eni, deviceIndex: 1, subnetID: "subnet-1")] }
        func localAddresses(mac: MACAddress) throws -> [IPAddress] { lock.withLock { assigned } }
        func describe(ids: [String]) throws -> [ENIDescription] {
            ids.map { ENIDescription(id: $0, subnetID: "subnet-1", deviceIndex: 1, tags: ["k": "v"], ipv4: lock.withLock { assigned },
                                ipv6: [], primaryIPv4: IPAddress("10.0.1.4"), prefixes: [IPPrefix("10.0.1.16/28")!]) }
        }
        func describe(subnetID: String) throws -> [ENIDescription] { try describe(ids: [UnitAgentTests.eni]) }
        func describe(tagKey: String, value: String, instanceENIs ids: [String]) throws -> [ENIDescription] { try describe(ids: ids) }
        func assign(ipv4: [IPAddress], to eni: String, allowReassignment: Bool) throws {
            try note("assign4:\(ipv4.count)")
            let held = lock.withLock { inUse }
            let bad = ipv4.filter { held.contains($0) }
            if !bad.isEmpty { throw AddressInUse(addresses: bad, detail: "InvalidIPAddress.InUse") }
            lock.withLock { assigned += ipv4 }
        }
        func unassign(ipv4: [IPAddress], from eni: String) throws {
            try note("unassign4:\(ipv4.count)")
            lock.withLock { assigned.removeAll { ipv4.contains($0) } }
        }
        func assign(ipv6: [IPAddress], to eni: String) throws { try note("assign6:\(ipv6.count)") }
        func unassign(ipv6: [IPAddress], from eni: String) throws { try note("unassign6:\(ipv6.count)") }
        func assign(count: Int, v4: Bool, to eni: String) throws -> [IPAddress] {
            try note("count:\(count)")
            return lock.withLock {
                let got = (0..<count).map { i in IPAddress("10.0.1.\(next + i)")! }
                next += count
                assigned += got
                return got
            }
        }
        func assignPrefixes(count: Int, v4: Bool, to eni: String) throws -> [IPPrefix] {
            try note("prefixes:\(count)")
            return [IPPrefix("10.0.1.32/28")!]
        }
        func unassign(prefixes: [IPPrefix], from eni: String) throws { try note("unprefix:\(prefixes.count)") }
        func subnets(mac: MACAddress) throws -> [IPPrefix] { [IPPrefix("10.0.1.0/24")!, IPPrefix("2600:1f18::/64")!] }
        func localPrefixes(mac: MACAddress) throws -> [IPPrefix] { [] }
        func addressLimits() throws -> AddressLimits { AddressLimits(instanceType: "m5.large", ipv4PerENI: 10, ipv6PerENI: 10) }
        func checkCredentials() throws {}
        var mutatingCalls: [String] { lock.withLock { calls } }
    }

    static func broker(_ reg: ScriptedRegistry, clock: any AWSClock = SystemClock(),
                       options: Broker.Options = .init(ratePerSecond: 1000, burst: 1000)) -> Broker {
        let b = Broker(options: options, clock: clock, log: { _ in }, makeGateway: { reg })
        b.start()
        return b
    }

    // MARK: wire

    /// Computed, not stored: a stored static holding enum payloads with arrays is reported as a leak by
    /// LeakSanitizer (the tagged payload pointer is not recognised as a reference), in the ASan run of CI.
    static var every: [AgentRequest] { [
        .hello, .instanceENIs, .localAddresses(mac: mac), .describeIDs([eni, "eni-2"]), .describeSubnet("subnet-1"),
        .describeTag(key: "k", value: "v", ids: [eni]),
        .assignIPv4(eni: eni, addresses: [IPAddress("10.0.1.5")!], allowReassignment: true),
        .unassignIPv4(eni: eni, addresses: [IPAddress("10.0.1.5")!, IPAddress("10.0.1.6")!]),
        .assignIPv6(eni: eni, addresses: [IPAddress("2600:1f18::5")!]), .unassignIPv6(eni: eni, addresses: [IPAddress("2600:1f18::5")!]),
        .assignCount(eni: eni, count: 3, v4: false), .assignPrefixes(eni: eni, count: 1, v4: true),
        .unassignPrefixes(eni: eni, prefixes: [IPPrefix("10.0.1.16/28")!]), .subnets(mac: mac), .localPrefixes(mac: mac),
        .addressLimits, .checkCredentials,
    ] }

    @Test("wire: every request decodes to itself; the timeout is clamped to 0.05...120 s")
    func requestRoundTrip() throws {
        for r in Self.every {
            let (back, t) = try AgentRequest.decode(r.encoded(timeout: 7.5))
            #expect(back == r)
            #expect(t == 7.5)
        }
        #expect(try AgentRequest.decode(AgentRequest.instanceENIs.encoded(timeout: 900)).timeout == 120)
        #expect(try AgentRequest.decode(AgentRequest.instanceENIs.encoded(timeout: 0)).timeout == 0.05)
    }

    @Test("wire: another protocol version, a bad op, a bad address and non-JSON are refused by kind")
    func requestRefusals() throws {
        #expect(throws: WireError.version(2)) { try AgentRequest.decode(Array(#"{"v":2,"op":"instanceENIs"}"#.utf8)) }
        #expect(throws: WireError.malformed("unknown op \"rm\"")) { try AgentRequest.decode(Array(#"{"v":1,"op":"rm"}"#.utf8)) }
        #expect(throws: WireError.self) {
            try AgentRequest.decode(Array(#"{"v":1,"op":"unassignIPv4","eni":"eni-1","addresses":["10.0.1.300"]}"#.utf8))
        }
        #expect(throws: WireError.self) { try AgentRequest.decode(Array("GET / HTTP/1.1\r\n".utf8)) }
    }

    @Test("wire: replies and every failure kind decode to themselves")
    func replyRoundTrip() throws {
        let replies: [AgentReply] = [
            .ok(.null), .ok(Wire.list([IPAddress("10.0.1.5")!])),
            .failed(.inUse(AddressInUse(addresses: [IPAddress("10.0.1.5")!], detail: "InvalidIPAddress.InUse: x"))),
            .failed(.aws(EC2CallFailure(message: "EC2: AWS RequestLimitExceeded", retryable: true, tryAgainLater: true, throttled: true))),
            .failed(.refused("only root")),
        ]
        for r in replies { #expect(try AgentReply.decode(r.encoded()) == r) }
        let remote = ENIDescription(id: Self.eni, subnetID: "subnet-1", deviceIndex: nil, tags: ["a": "b"], ipv4: [IPAddress("10.0.1.5")!],
                               ipv6: [IPAddress("2600:1f18::5")!], primaryIPv4: nil, prefixes: [IPPrefix("10.0.1.16/28")!], known: false)
        #expect(try Wire.describedENIs(.array([Wire.json(remote)])) == [remote])
    }

    // MARK: broker

    @Test("64 concurrent assigns of one ENI: at most 8 EC2 calls (the first call, then one for all that queued behind it)")
    func concurrentAssignsMerge() throws {
        let reg = ScriptedRegistry()
        reg.hold = true
        let b = Self.broker(reg)
        let results = Mutex64()
        onThreads( 65) { i in
            if i == 64 {
                // Release the first call once every request is queued behind it.
                while b.stats.requests < 64 { usleep(1000) }
                reg.lock.withLock { reg.hold = false }
                return
            }
            let r = b.submit(.assignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.\(i + 1)")!], allowReassignment: false), timeout: 10)
            results.set(i, r)
        }
        #expect(results.all.allSatisfy { $0 == .ok(.null) })
        let calls = reg.mutatingCalls
        // However the 64 arrive, the first call is held until all are queued, so whatever it did not take goes
        // in one more call.
        #expect(calls.count == 2, "\(calls)")
        #expect(calls.compactMap { Int($0.split(separator: ":")[1]) }.reduce(0, +) == 64, "\(calls)")
        #expect(Set(reg.assigned).count == 64)
        #expect(b.stats.ec2Calls == 2)
    }

    @Test("a merged call refused for one address is retried member by member: only that member fails")
    func mergedFailureIsolated() throws {
        let reg = ScriptedRegistry()
        reg.inUse = [IPAddress("10.0.2.2")!]
        reg.hold = true
        let b = Self.broker(reg)
        let results = Mutex64()
        onThreads( 5) { i in
            if i == 4 {
                while b.stats.requests < 4 { usleep(1000) }
                reg.lock.withLock { reg.hold = false }
                return
            }
            results.set(i, b.submit(.assignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.\(i + 1)")!], allowReassignment: false), timeout: 10))
        }
        for i in 0..<4 {
            if i == 1 {
                guard case .failed(.inUse(let u))? = results.get(i) else { Issue.record("\(String(describing: results.get(i)))"); continue }
                #expect(u.addresses == [IPAddress("10.0.2.2")!])
            } else {
                #expect(results.get(i) == .ok(.null), "member \(i)")
            }
        }
        #expect(Set(reg.assigned) == Set([1, 3, 4].map { IPAddress("10.0.2.\($0)")! }))
        // Some call carried several members (the first is held until all four are queued); whichever call the
        // refused address was in, only its own request failed (checked above), and nothing was assigned twice.
        #expect(reg.mutatingCalls.contains { $0 != "assign4:1" }, "\(reg.mutatingCalls)")
        #expect(reg.assigned.count == 3, "\(reg.assigned)")
    }

    @Test("concurrent count-based assigns share one call and each gets its own addresses")
    func countAssignsMerge() throws {
        let reg = ScriptedRegistry()
        reg.hold = true
        let b = Self.broker(reg)
        let results = Mutex64()
        let counts = [1, 1, 2, 3]
        onThreads( counts.count + 2) { i in
            if i == counts.count + 1 {
                while b.stats.requests < counts.count + 1 { usleep(1000) }
                reg.lock.withLock { reg.hold = false }
                return
            }
            let n = i < counts.count ? counts[i] : 1
            results.set(i, b.submit(.assignCount(eni: Self.eni, count: n, v4: true), timeout: 10))
        }
        var all: [IPAddress] = []
        for i in 0...counts.count {
            guard case .ok(let v)? = results.get(i) else { Issue.record("member \(i): \(String(describing: results.get(i)))"); continue }
            let got = try Wire.addresses(v)
            #expect(got.count == (i < counts.count ? counts[i] : 1), "member \(i)")
            all += got
        }
        #expect(Set(all).count == 8 && Set(all) == Set(reg.assigned))
        #expect((1...2).contains(reg.mutatingCalls.count), "\(reg.mutatingCalls)")
    }

    @Test("pacing: past the burst, mutating calls wait for tokens; throttling halves the rate and is reported")
    func pacing() throws {
        let reg = ScriptedRegistry()
        let clock = FakeClock()
        let b = Self.broker(reg, clock: clock, options: .init(ratePerSecond: 5, burst: 2))
        let t0 = clock.monotonic()
        for i in 0..<4 {
            #expect(b.submit(.unassignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.\(i + 1)")!]), timeout: 10) == .ok(.null))
        }
        // Two from the burst, then one every 1/5 s.
        #expect(abs(clock.monotonic() - t0 - 0.4) < 1e-6, "\(clock.monotonic() - t0)")
        // Reads are not paced.
        let t1 = clock.monotonic()
        for _ in 0..<10 { _ = b.submit(.instanceENIs, timeout: 10) }
        #expect(clock.monotonic() == t1)

        reg.throttle = true
        guard case .failed(.aws(let f)) = b.submit(.unassignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.9")!]), timeout: 10) else {
            Issue.record("a throttled call must fail as an AWS failure"); return
        }
        #expect(f.throttled && f.tryAgainLater && f.message.contains("RequestLimitExceeded"))
        #expect(b.stats.throttled == 1)
        // The bucket was emptied and the rate halved (2.5/s): the next call waits 1/2.5 s.
        reg.throttle = false
        let t2 = clock.monotonic()
        #expect(b.submit(.unassignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.9")!]), timeout: 10) == .ok(.null))
        #expect(abs(clock.monotonic() - t2 - 0.4) < 0.01, "\(clock.monotonic() - t2)")
    }

    @Test("a wait for a token that would outlast the request's deadline fails at once with try-again-later")
    func pacingRespectsDeadline() throws {
        let reg = ScriptedRegistry()
        let clock = FakeClock()
        let b = Self.broker(reg, clock: clock, options: .init(ratePerSecond: 0.1, burst: 1))
        #expect(b.submit(.unassignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.1")!]), timeout: 5) == .ok(.null))
        guard case .failed(.aws(let f)) = b.submit(.unassignIPv4(eni: Self.eni, addresses: [IPAddress("10.0.2.2")!]), timeout: 5) else {
            Issue.record("expected a failure"); return
        }
        #expect(f.tryAgainLater && f.message.contains("rate limit"))
        #expect(reg.mutatingCalls == ["unassign4:1"])
        // Each call ran under its request's own deadline.
        #expect(reg.deadlines.allSatisfy { $0 <= 5 })
    }

    // MARK: server

    @Test("server: the plugin's gateway gets every answer over the socket; the socket is 0600; one agent per data dir")
    func serverRoundTripAndLock() throws {
        let dir = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reg = ScriptedRegistry()
        let socket = dir + "/run/agent.sock"
        let server = AgentServer(socketPath: socket, dataDir: dir, broker: Self.broker(reg), log: { _ in })
        let running = try server.start()
        defer { running.stop() }
        var st = stat()
        #expect(stat(socket, &st) == 0 && st.st_mode & 0o777 == 0o600, "mode \(String(st.st_mode & 0o777, radix: 8))")

        let g = AgentGateway(socket: socket, timeout: 5)
        #expect(try g.instanceENIs() == reg.instanceENIs())
        #expect(try g.describe(ids: [Self.eni]) == reg.describe(ids: [Self.eni]))
        #expect(try g.describe(ids: []) == [])
        #expect(try g.subnets(mac: Self.mac) == reg.subnets(mac: Self.mac))
        #expect(try g.addressLimits() == reg.addressLimits())
        let got = try g.assign(count: 2, v4: true, to: Self.eni)
        let on = try g.localAddresses(mac: Self.mac)
        #expect(got.count == 2 && Set(on) == Set(got))
        try g.unassign(ipv4: got, from: Self.eni)
        #expect(try g.localAddresses(mac: Self.mac).isEmpty)
        reg.inUse = [IPAddress("10.0.9.9")!]
        #expect(throws: AddressInUse.self) { try g.assign(ipv4: [IPAddress("10.0.9.9")!], to: Self.eni, allowReassignment: false) }

        let second = AgentServer(socketPath: dir + "/other.sock", dataDir: dir, broker: Self.broker(ScriptedRegistry()), log: { _ in })
        #expect {
            _ = try second.start()
        } throws: { "\($0)".contains("one agent per node") && "\($0)".contains("\(getpid())") }
    }

    @Test("the plugin's side: no agent means AgentUnreachable naming the socket; a peer in another version is refused")
    func unreachableAndVersion() throws {
        let dir = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect {
            _ = try AgentGateway(socket: dir + "/none.sock", timeout: 1).instanceENIs()
        } throws: { e in
            guard let u = e as? AgentUnreachable else { return false }
            return u.socket == dir + "/none.sock" && u.description.contains("agent running")
        }
        let server = AgentServer(socketPath: dir + "/a.sock", dataDir: dir, broker: Self.broker(ScriptedRegistry()), log: { _ in })
        let running = try server.start()
        defer { running.stop() }
        let c = try SeqPacketConnection.connect(path: dir + "/a.sock", timeout: 5)
        #expect(c.send(Array(#"{"v":9,"op":"instanceENIs"}"#.utf8)) == nil)
        guard case .success(let bytes?) = c.receive() else { Issue.record("no reply"); return }
        guard case .failed(.refused(let why)) = try AgentReply.decode(bytes) else { Issue.record("not refused"); return }
        #expect(why.contains("protocol version 9"))
    }

    func makeTemp() throws -> String {
        var t = Array("/tmp/emt-agentunit.XXXXXX".utf8CString)
        guard let p = mkdtemp(&t) else { throw NodeAgentError("mkdtemp") }
        return String(cString: p)
    }
}

/// Replies by index, from many threads.
final class Mutex64: @unchecked Sendable {
    private let lock = NSLock()
    private var r: [Int: AgentReply] = [:]
    func set(_ i: Int, _ v: AgentReply) { lock.withLock { r[i] = v } }
    func get(_ i: Int) -> AgentReply? { lock.withLock { r[i] } }
    var all: [AgentReply] { lock.withLock { Array(r.values) } }
}

/// Runs `body(i)` for i in 0..<count, each on its own thread (not a pool: the members block on purpose), and waits.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread { body(i); group.leave() }
        t.start()
    }
    group.wait()
}
