import Glibc

/// Retries in the manner of the AWS SDKs' *standard* retry mode, bounded by a per-invocation deadline.
///
/// Numbers from botocore `retries/standard.py` (the reference the other SDKs follow):
/// - max attempts 3 (first call included), overridden by `AWS_MAX_ATTEMPTS` and then by explicit configuration;
/// - retried: throttling codes, transient codes, HTTP 500/502/503/504, connection and timeout failures;
/// - delay before retry *i* (1-based) = `random[0,1) × min(scale × 2^(i-1), 20 s)` (full jitter), with
///   scale 1 s after a throttling error and 0.05 s after any other retryable error.
/// The SDKs' client-side retry quota (a token bucket shared across a long-lived client) is not modelled: one
/// plugin invocation makes a handful of calls and the deadline already bounds the total.
public struct RetryPolicy: Sendable, Equatable {
    public static let defaultMaxAttempts = 3
    /// Seconds; the ceiling of a single backoff.
    public static let maxBackoff = 20.0
    public static let throttlingBaseScale = 1.0
    public static let nonThrottlingBaseScale = 0.05

    public var maxAttempts: Int
    public var maxBackoff: Double
    public var throttlingBaseScale: Double
    public var nonThrottlingBaseScale: Double

    public init(maxAttempts: Int = RetryPolicy.defaultMaxAttempts, maxBackoff: Double = RetryPolicy.maxBackoff,
                throttlingBaseScale: Double = RetryPolicy.throttlingBaseScale,
                nonThrottlingBaseScale: Double = RetryPolicy.nonThrottlingBaseScale)
    {
        self.maxAttempts = max(1, maxAttempts)
        self.maxBackoff = maxBackoff
        self.throttlingBaseScale = throttlingBaseScale
        self.nonThrottlingBaseScale = nonThrottlingBaseScale
    }

    /// `configured` (e.g. the network config) wins, then `AWS_MAX_ATTEMPTS` (a positive integer; anything else is
    /// ignored), then 3.
    public static func resolve(environment: [String: String], configuredMaxAttempts: Int? = nil) -> RetryPolicy {
        if let c = configuredMaxAttempts, c >= 1 { return RetryPolicy(maxAttempts: c) }
        if let s = environment["AWS_MAX_ATTEMPTS"], let n = Int(s.trimmingASCIIWhitespace()), n >= 1 {
            return RetryPolicy(maxAttempts: n)
        }
        return RetryPolicy()
    }

    /// The jittered delay before retry number `retry` (1 for the first retry) after `error`.
    public func backoff(retry: Int, after error: AWSError, random: any AWSRandom) -> Double {
        let scale = error.isThrottling ? throttlingBaseScale : nonThrottlingBaseScale
        let exponent = Double(max(0, min(retry - 1, 62)))
        let ceiling = min(scale * pow2(exponent), maxBackoff)
        let r = min(max(random.unit(), 0), 1)
        return r * ceiling
    }

    private func pow2(_ e: Double) -> Double {
        var v = 1.0
        var i = 0.0
        while i < e && v < 1e9 { v *= 2; i += 1 }
        return v
    }
}

/// A point in monotonic time after which no AWS work starts and no sleep extends.
public struct Deadline: Sendable {
    public let clock: any AWSClock
    /// Monotonic seconds.
    public let end: Double

    public init(seconds: Double, clock: any AWSClock) {
        self.clock = clock
        self.end = clock.monotonic() + seconds
    }

    public init(end: Double, clock: any AWSClock) {
        self.clock = clock
        self.end = end
    }

    /// Seconds left (never negative).
    public var remaining: Double { max(0, end - clock.monotonic()) }

    public var isExpired: Bool { remaining <= 0 }
}

/// Runs one logical AWS call under a `RetryPolicy` and a `Deadline`.
public struct Retrier: Sendable {
    /// No attempt starts with less than this left (seconds): it could not complete an HTTPS exchange anyway.
    public static let minimumAttemptTime = 0.01

    public var policy: RetryPolicy
    public var clock: any AWSClock
    public var random: any AWSRandom

    public init(policy: RetryPolicy, clock: any AWSClock, random: any AWSRandom) {
        self.policy = policy
        self.clock = clock
        self.random = random
    }

    /// Calls `attempt(number, timeout)` until it succeeds, fails with a non-retryable error, runs out of attempts
    /// (the last error is thrown: it is retryable, so the caller reports "try again later"), or the deadline
    /// would be passed (`deadlineExceeded` with the last AWS code). `timeout` is the time left before the
    /// deadline, optionally capped by `attemptTimeoutCap`; the attempt must not exceed it.
    public func run<T>(deadline: Deadline, attemptTimeoutCap: Double? = nil,
                       _ attempt: (_ number: Int, _ timeout: Double) throws(AWSError) -> T) throws(AWSError) -> T
    {
        var lastError: AWSError? = nil
        var number = 0
        while true {
            let remaining = deadline.remaining
            if remaining < Self.minimumAttemptTime {
                throw .deadlineExceeded(lastError: lastError?.shortForm ?? "none (no time left)", attempts: number)
            }
            number += 1
            let timeout = attemptTimeoutCap.map { min($0, remaining) } ?? remaining
            do {
                return try attempt(number, timeout)
            } catch {
                lastError = error
                guard error.isRetryable else { throw error }
                if deadline.isExpired {
                    throw .deadlineExceeded(lastError: error.shortForm, attempts: number)
                }
                guard number < policy.maxAttempts else { throw error }
                let delay = policy.backoff(retry: number, after: error, random: random)
                // Never sleep past the deadline: if the next attempt could not start in time, stop now.
                if delay + Self.minimumAttemptTime >= deadline.remaining {
                    throw .deadlineExceeded(lastError: error.shortForm, attempts: number)
                }
                if delay > 0 { clock.sleep(seconds: delay) }
            }
        }
    }
}

/// The live clock: `CLOCK_REALTIME` for `now`, `CLOCK_MONOTONIC` for deadlines, `nanosleep` for backoff.
public struct SystemClock: AWSClock {
    public init() {}

    public func now() -> Double { Self.read(CLOCK_REALTIME) }
    public func monotonic() -> Double { Self.read(CLOCK_MONOTONIC) }

    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        var req = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rem = timespec()
        while nanosleep(&req, &rem) == -1 && errno == EINTR { req = rem }
    }

    private static func read(_ id: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(id, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The live jitter source: `getrandom(2)`-seeded SystemRandomNumberGenerator.
public struct SystemRandom: AWSRandom {
    public init() {}

    public func unit() -> Double {
        var g = SystemRandomNumberGenerator()
        return Double.random(in: 0..<1, using: &g)
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let ws: Set<Character> = [" ", "\t", "\n", "\r", "\r\n"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s.removeFirst() }
        while let l = s.last, ws.contains(l) { s.removeLast() }
        return String(s)
    }
}
