#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import AWS
import JSON
import NetTypes

/// An `EC2Gateway` whose every later call is bounded by a deadline the caller sets (the agent: per request).
public protocol DeadlineGateway: EC2Gateway {
    func setDeadline(seconds: Double)
}

extension AWSEC2Gateway: DeadlineGateway {}

/// The agent's single holder of the AWS session. Requests from every connection queue here and one worker runs
/// them in order, so EC2 sees one client per node: one connection, one set of cached credentials, one pace. (A
/// mutation in flight holds up the reads queued behind it: on EC2 for 100–300 ms, while the requests of the other
/// pods queue up to be merged into the next call.)
/// Concurrent mutations of the same kind on the same ENI are merged into one EC2 call (N simultaneous ADDs → one
/// AssignPrivateIpAddresses with N addresses); when a merged call fails for a reason that may be one member's
/// (an address in use, one not assigned), each member is retried alone so that only its own outcome reaches it.
/// Mutating calls are paced by a client-side token bucket per EC2 action that halves its rate when EC2 throttles.
public final class Broker: @unchecked Sendable {
    public struct Options: Sendable {
        /// Sustained mutating calls per second per EC2 action (AWS's account bucket refills at 5 per second).
        public var ratePerSecond: Double
        /// Calls allowed in a burst.
        public var burst: Double
        public init(ratePerSecond: Double = 5, burst: Double = 20) {
            self.ratePerSecond = ratePerSecond
            self.burst = burst
        }
    }

    /// What the agent did, for its metrics and the tests.
    public struct Stats: Sendable, Equatable {
        public var requests = 0
        /// EC2/IMDS calls actually made, by request op.
        public var calls: [String: Int] = [:]
        /// Requests answered by a call that also answered others.
        public var merged = 0
        public var throttled = 0
        public var failures = 0
        public var ec2Calls: Int { calls.filter { AgentRequest.mutatingOps.contains($0.key) }.values.reduce(0, +) }
    }

    private let makeGateway: () throws -> any DeadlineGateway
    private var gateway: (any DeadlineGateway)?
    private let clock: any AWSClock
    private let monitor = Monitor()
    private var queue: [Job] = []
    private var buckets: [String: TokenBucket] = [:]
    private let options: Options
    private var _stats = Stats()
    private let log: @Sendable (String) -> Void
    /// The crash campaign's hook (debug builds of the agent bind it to `ENI_MULTUS_FAILPOINT`): called with
    /// `agent.before-ec2` and `agent.after-ec2` around every mutating EC2 call. Names in `Broker.crashPoints`.
    public var crashPoint: @Sendable (String) -> Void = { _ in }
    public static let crashPoints = ["agent.before-ec2", "agent.after-ec2"]

    final class Job {
        let request: AgentRequest
        let end: Double
        var reply: AgentReply?
        init(_ r: AgentRequest, end: Double) { request = r; self.end = end }
    }

    public init(options: Options = Options(), clock: any AWSClock, log: @escaping @Sendable (String) -> Void,
                makeGateway: @escaping () throws -> any DeadlineGateway) {
        self.options = options
        self.clock = clock
        self.log = log
        self.makeGateway = makeGateway
    }

    public var stats: Stats { monitor.locked { _stats } }

    /// Starts the worker thread.
    public func start() { spawnThread { [self] in self.work() } }

    /// Runs `request` (queued behind what is already waiting) and returns its answer; blocks the calling thread.
    public func submit(_ request: AgentRequest, timeout: Double) -> AgentReply {
        if case .hello = request { return .ok(.object(["version": .number(JSONNumber(AgentRequest.version))])) }
        let job = Job(request, end: clock.monotonic() + timeout)
        return monitor.locked {
            queue.append(job)
            _stats.requests += 1
            monitor.broadcast()
            while job.reply == nil { monitor.wait() }
            return job.reply!
        }
    }

    private func work() {
        while true {
            let batch: [Job] = monitor.locked {
                while queue.isEmpty { monitor.wait() }
                let first = queue.removeFirst()
                guard let key = Self.mergeKey(first.request) else { return [first] }
                var batch = [first]
                queue.removeAll { j in
                    guard Self.mergeKey(j.request) == key else { return false }
                    batch.append(j)
                    return true
                }
                return batch
            }
            let replies = run(batch)
            monitor.locked {
                for (j, r) in zip(batch, replies) { j.reply = r }
                if batch.count > 1 { _stats.merged += batch.count }
                monitor.broadcast()
            }
        }
    }

    /// Requests that may share one EC2 call: same action, same ENI (and for IPv4, the same reassignment flag); and
    /// identical reads (the first ADDs on a node all describing the ENI, pods confirming on one MAC), answered once.
    static func mergeKey(_ r: AgentRequest) -> String? {
        if !r.mutates { return "=" + String(decoding: r.encoded(timeout: 0), as: UTF8.self) }
        return switch r {
        case .assignIPv4(let e, _, let re): "a4|\(e)|\(re)"
        case .unassignIPv4(let e, _): "u4|\(e)"
        case .assignIPv6(let e, _): "a6|\(e)"
        case .unassignIPv6(let e, _): "u6|\(e)"
        case .assignCount(let e, _, let v4): "c|\(e)|\(v4)"
        default: nil
        }
    }

    /// One call for the whole batch; each member alone when the merged call fails.
    private func run(_ batch: [Job]) -> [AgentReply] {
        let end = batch.map(\.end).max()!
        if batch.count > 1, !batch[0].request.mutates {
            let r = perform(batch[0].request, end: end)  // identical reads: one answer for all
            return batch.map { _ in r }
        }
        guard batch.count > 1, let merged = Self.merge(batch.map(\.request)) else {
            return batch.map { perform($0.request, end: $0.end) }
        }
        let r = perform(merged, end: end)
        switch (r, merged) {
        case (.ok(let v), .assignCount(_, _, _)):
            // Hand each member the addresses it asked for, in order.
            guard let all = try? Wire.addresses(v) else { return batch.map { _ in r } }
            var rest = all[...]
            return batch.map { j in
                guard case .assignCount(_, let n, _) = j.request else { return r }
                let mine = Array(rest.prefix(n))
                rest = rest.dropFirst(n)
                return .ok(Wire.list(mine))
            }
        case (.ok, _):
            return batch.map { _ in r }
        case (.failed(.aws(let f)), _) where f.tryAgainLater:
            return batch.map { _ in r }  // throttled, unreachable, out of time: no member would do better alone
        default:
            return batch.map { perform($0.request, end: $0.end) }
        }
    }

    static func merge(_ requests: [AgentRequest]) -> AgentRequest? {
        func union(_ lists: [[IPAddress]]) -> [IPAddress] {
            var seen = Set<IPAddress>()
            return lists.joined().filter { seen.insert($0).inserted }
        }
        switch requests[0] {
        case .assignIPv4(let e, _, let re):
            return .assignIPv4(eni: e, addresses: union(requests.map { if case .assignIPv4(_, let a, _) = $0 { a } else { [] } }),
                               allowReassignment: re)
        case .unassignIPv4(let e, _):
            return .unassignIPv4(eni: e, addresses: union(requests.map { if case .unassignIPv4(_, let a) = $0 { a } else { [] } }))
        case .assignIPv6(let e, _):
            return .assignIPv6(eni: e, addresses: union(requests.map { if case .assignIPv6(_, let a) = $0 { a } else { [] } }))
        case .unassignIPv6(let e, _):
            return .unassignIPv6(eni: e, addresses: union(requests.map { if case .unassignIPv6(_, let a) = $0 { a } else { [] } }))
        case .assignCount(let e, _, let v4):
            return .assignCount(eni: e, count: requests.reduce(0) { if case .assignCount(_, let n, _) = $1 { $0 + n } else { $0 } }, v4: v4)
        default:
            return nil
        }
    }

    /// Runs one request against AWS (paced when it mutates), under the deadline `end`.
    func perform(_ request: AgentRequest, end: Double) -> AgentReply {
        let left = end - clock.monotonic()
        guard left > 0 else {
            return .failed(.aws(EC2CallFailure(message: "EC2: the request's deadline passed while it waited in the agent's queue",
                                               retryable: true, tryAgainLater: true)))
        }
        if request.mutates {
            let action = request.ec2Action
            let wait = monitor.locked { bucket(action).reserve(now: clock.monotonic()) }
            if wait > left {
                monitor.locked { bucket(action).refund() }
                return .failed(.aws(EC2CallFailure(message: "EC2: \(action): the agent's client-side rate limit (\(options.ratePerSecond)/s) leaves no call before the deadline",
                                                   retryable: true, tryAgainLater: true)))
            }
            if wait > 0 { clock.sleep(seconds: wait) }
        }
        do {
            let reg: any DeadlineGateway
            if let gateway { reg = gateway } else { reg = try makeGateway(); gateway = reg }
            reg.setDeadline(seconds: max(end - clock.monotonic(), 0.01))
            monitor.locked { _stats.calls[request.op, default: 0] += 1 }
            if request.mutates { crashPoint("agent.before-ec2") }
            let value = try Self.execute(request, on: reg)
            if request.mutates { crashPoint("agent.after-ec2") }
            if request.mutates { monitor.locked { bucket(request.ec2Action).succeeded(limit: options.ratePerSecond) } }
            return .ok(value)
        } catch {
            monitor.locked { _stats.failures += 1 }
            let failure = Self.failure(error)
            if case .aws(let f) = failure, f.throttled {
                monitor.locked {
                    _stats.throttled += 1
                    if request.mutates { bucket(request.ec2Action).throttled(now: clock.monotonic()) }
                }
                log("EC2 throttled \(request.ec2Action); pacing at \(monitor.locked { bucket(request.ec2Action).rate })/s")
            }
            return .failed(failure)
        }
    }

    private func bucket(_ action: String) -> TokenBucket {
        if let b = buckets[action] { return b }
        let b = TokenBucket(rate: options.ratePerSecond, burst: options.burst, now: clock.monotonic())
        buckets[action] = b
        return b
    }

    static func execute(_ r: AgentRequest, on reg: any EC2Gateway) throws -> JSON {
        switch r {
        case .hello: return .null
        case .instanceENIs: return .array(try reg.instanceENIs().map(Wire.json))
        case .localAddresses(let m): return Wire.list(try reg.localAddresses(mac: m))
        case .describeIDs(let ids): return .array(try reg.describe(ids: ids).map(Wire.json))
        case .describeSubnet(let s): return .array(try reg.describe(subnetID: s).map(Wire.json))
        case .describeTag(let k, let v, let ids): return .array(try reg.describe(tagKey: k, value: v, instanceENIs: ids).map(Wire.json))
        case .assignIPv4(let e, let a, let re): try reg.assign(ipv4: a, to: e, allowReassignment: re)
        case .unassignIPv4(let e, let a): try reg.unassign(ipv4: a, from: e)
        case .assignIPv6(let e, let a): try reg.assign(ipv6: a, to: e)
        case .unassignIPv6(let e, let a): try reg.unassign(ipv6: a, from: e)
        case .assignCount(let e, let n, let v4): return Wire.list(try reg.assign(count: n, v4: v4, to: e))
        case .assignPrefixes(let e, let n, let v4): return Wire.list(try reg.assignPrefixes(count: n, v4: v4, to: e))
        case .unassignPrefixes(let e, let p): try reg.unassign(prefixes: p, from: e)
        case .subnets(let m): return Wire.list(try reg.subnets(mac: m))
        case .localPrefixes(let m): return Wire.list(try reg.localPrefixes(mac: m))
        case .addressLimits: return Wire.json(try reg.addressLimits())
        case .checkCredentials: try reg.checkCredentials()
        }
        return .null
    }

    /// The AWS layer's errors as the plugin will see them (its messages kept word for word).
    static func failure(_ error: any Error) -> AgentFailure {
        switch error {
        case let e as AddressInUse: return .inUse(e)
        case let e as AWSError:
            let throttled = e.isThrottling || AWSError.throttlingCodes.contains(e.code ?? "")
            return .aws(EC2CallFailure(message: "EC2: \(e)", retryable: e.isRetryable, tryAgainLater: e.isTryAgainLater,
                                       throttled: throttled))
        case let e as TransportError:
            return .aws(EC2CallFailure(message: "EC2: \(e)", retryable: true, tryAgainLater: true))
        case let e as EC2CallFailure: return .aws(e)
        default:
            return .aws(EC2CallFailure(message: "EC2: \(error)", retryable: false, tryAgainLater: false))
        }
    }
}

extension AgentRequest {
    static let mutatingOps: Set<String> = ["assignIPv4", "unassignIPv4", "assignIPv6", "unassignIPv6", "assignCount",
                                           "assignPrefixes", "unassignPrefixes"]

    /// The EC2 action (and so AWS's throttling bucket) a mutating request spends.
    var ec2Action: String {
        switch self {
        case .assignIPv4: "AssignPrivateIpAddresses"
        case .assignCount(_, _, let v4), .assignPrefixes(_, _, let v4): v4 ? "AssignPrivateIpAddresses" : "AssignIpv6Addresses"
        case .unassignIPv4: "UnassignPrivateIpAddresses"
        case .assignIPv6: "AssignIpv6Addresses"
        case .unassignIPv6: "UnassignIpv6Addresses"
        case .unassignPrefixes(_, let p): p.contains { $0.address.isV4 } ? "UnassignPrivateIpAddresses" : "UnassignIpv6Addresses"
        default: op
        }
    }
}

/// A client-side token bucket with multiplicative decrease on throttling and additive recovery on success.
final class TokenBucket {
    private(set) var rate: Double
    let burst: Double
    private var tokens: Double
    private var last: Double

    init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
        tokens = max(burst, 1)
        last = now
    }

    /// Takes a token; returns how long to wait before using it (0: now).
    func reserve(now: Double) -> Double {
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }

    func refund() { tokens += 1 }

    /// EC2 throttled: halve the rate (not below one call per 5 s) and empty the bucket.
    func throttled(now: Double) {
        tokens = min(0, tokens + (now - last) * rate)
        last = now
        rate = max(rate / 2, 0.2)
    }

    func succeeded(limit: Double) { rate = min(limit, rate + 0.1) }
}

/// A pthread mutex and condition variable.
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }
    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
    /// Only inside `locked`.
    func wait() { pthread_cond_wait(&cond, &mutex) }
    func broadcast() { pthread_cond_broadcast(&cond) }
}

/// Starts a detached thread running `body`.
func spawnThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let arg = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    let rc = pthread_create(&tid, &attr, { p in
        let box = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
        box.body()
        return nil
    }, arg)
    pthread_attr_destroy(&attr)
    if rc != 0 { Unmanaged<Box>.fromOpaque(arg).release() }
}

/// The agent's own EC2 work (its reconcile passes) as an `EC2Gateway` whose calls queue in the broker beside the
/// plugins' requests: one session, one pace, one count for everything this node asks of EC2.
public final class BrokeredGateway: AgentRequesting {
    let broker: Broker
    let timeout: Double

    public init(broker: Broker, timeout: Double) {
        self.broker = broker
        self.timeout = timeout
    }

    public func call(_ r: AgentRequest) throws -> JSON {
        switch broker.submit(r, timeout: timeout) {
        case .ok(let v): return v
        case .failed(let f): throw f.error(socket: "(in the agent)")
        }
    }
}
