import Testing
@testable import AWS

@Suite struct UnitRetryTests {
    static let throttle = AWSError.service(code: "RequestLimitExceeded", message: "Request limit exceeded.",
                                           httpStatus: 503, requestID: "r1")
    static let internalError = AWSError.service(code: "InternalError", message: "", httpStatus: 500, requestID: nil)
    static let invalid = AWSError.service(code: "InvalidParameterValue", message: "bad", httpStatus: 400,
                                          requestID: nil)

    // MARK: Classification

    @Test("throttling codes", arguments: [
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
        "RequestThrottledException", "EC2ThrottledException", "SlowDown", "BandwidthLimitExceeded",
    ])
    func throttlingCodes(_ code: String) {
        let e = AWSError.service(code: code, message: "", httpStatus: 400, requestID: nil)
        #expect(e.isThrottling)
        #expect(e.isRetryable)
        #expect(e.isTryAgainLater)
    }

    @Test("transient codes and statuses are retryable, not throttling")
    func transient() {
        for code in ["InternalError", "ServiceUnavailable", "Unavailable", "RequestTimeout", "InternalFailure"] {
            let e = AWSError.service(code: code, message: "", httpStatus: 400, requestID: nil)
            #expect(e.isRetryable, "\(code)")
            #expect(!e.isThrottling, "\(code)")
        }
        for status in [500, 502, 503, 504] {
            #expect(AWSError.service(code: "HTTP\(status)", message: "", httpStatus: status, requestID: nil).isRetryable)
        }
        #expect(AWSError.transport(.connect("refused")).isRetryable)
        #expect(AWSError.transport(.timeout("t")).isRetryable)
        #expect(AWSError.transport(.io("reset")).isRetryable)
    }

    @Test("client errors, credentials and a missing libcurl are not retryable")
    func notRetryable() {
        for code in ["InvalidParameterValue", "UnauthorizedOperation", "PrivateIpAddressLimitExceeded",
                     "InvalidIPAddress.InUse", "AuthFailure", "InvalidNetworkInterfaceID.NotFound"] {
            let e = AWSError.service(code: code, message: "", httpStatus: 400, requestID: nil)
            #expect(!e.isRetryable, "\(code)")
            #expect(!e.isTryAgainLater, "\(code)")
        }
        #expect(!AWSError.transport(.unavailable("no libcurl")).isRetryable)
        #expect(!AWSError.credentials("none").isRetryable)
        #expect(!AWSError.malformedResponse("x").isRetryable)
        #expect(AWSError.deadlineExceeded(lastError: "RequestLimitExceeded", attempts: 3).isTryAgainLater)
    }

    @Test("descriptions name the AWS code")
    func descriptions() {
        #expect(Self.throttle.description == "AWS RequestLimitExceeded: Request limit exceeded. (HTTP 503, request id r1)")
        let d = AWSError.deadlineExceeded(lastError: "RequestLimitExceeded", attempts: 3)
        #expect(d.description.contains("RequestLimitExceeded"))
        #expect(d.description.contains("3 attempts"))
        #expect(d.code == "RequestLimitExceeded")
        #expect(AWSError.transport(.connect("refused")).description.contains("refused"))
    }

    // MARK: Policy

    @Test("max attempts: configuration > AWS_MAX_ATTEMPTS > 3")
    func maxAttempts() {
        #expect(RetryPolicy.resolve(environment: [:]).maxAttempts == 3)
        #expect(RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "7"]).maxAttempts == 7)
        #expect(RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": " 1 "]).maxAttempts == 1)
        #expect(RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "0"]).maxAttempts == 3)
        #expect(RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "many"]).maxAttempts == 3)
        #expect(RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "7"], configuredMaxAttempts: 2).maxAttempts == 2)
    }

    @Test("backoff: full jitter over min(scale·2^(i-1), 20 s), scale 1 s for throttling, 50 ms otherwise")
    func backoffBounds() {
        let p = RetryPolicy()
        // The ceiling, with random → 1.
        let one = FixedRandom(0.999_999_999)
        #expect(abs(p.backoff(retry: 1, after: Self.throttle, random: one) - 1) < 1e-6)
        #expect(abs(p.backoff(retry: 2, after: Self.throttle, random: one) - 2) < 1e-6)
        #expect(abs(p.backoff(retry: 3, after: Self.throttle, random: one) - 4) < 1e-6)
        #expect(abs(p.backoff(retry: 5, after: Self.throttle, random: one) - 16) < 1e-6)
        #expect(abs(p.backoff(retry: 6, after: Self.throttle, random: one) - 20) < 1e-6)
        #expect(abs(p.backoff(retry: 60, after: Self.throttle, random: one) - 20) < 1e-6)
        #expect(abs(p.backoff(retry: 1, after: Self.internalError, random: one) - 0.05) < 1e-6)
        #expect(abs(p.backoff(retry: 3, after: Self.internalError, random: one) - 0.2) < 1e-6)
        #expect(abs(p.backoff(retry: 1, after: .transport(.io("x")), random: one) - 0.05) < 1e-6)
        // Full jitter: random 0 → no wait, 0.5 → half.
        #expect(p.backoff(retry: 4, after: Self.throttle, random: FixedRandom(0)) == 0)
        #expect(p.backoff(retry: 4, after: Self.throttle, random: FixedRandom(0.5)) == 4)
    }

    // MARK: Runner

    @Test("throttling then success: one backoff, second attempt returns")
    func throttleThenSuccess() throws {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(), clock: clock, random: FixedRandom(0.5))
        var calls = 0
        let v = try r.run(deadline: Deadline(seconds: 30, clock: clock)) { (n, _) throws(AWSError) -> Int in
            calls += 1
            if n == 1 { throw Self.throttle }
            return 42
        }
        #expect(v == 42)
        #expect(calls == 2)
        #expect(clock.sleeps == [0.5])
    }

    @Test("non-retryable errors are thrown at once")
    func nonRetryable() {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(), clock: clock, random: FixedRandom(0.5))
        var calls = 0
        #expect(throws: Self.invalid) {
            try r.run(deadline: Deadline(seconds: 30, clock: clock)) { (_, _) throws(AWSError) -> Int in
                calls += 1
                throw Self.invalid
            }
        }
        #expect(calls == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test("attempts exhausted: the last (retryable) error, after maxAttempts calls and maxAttempts-1 sleeps")
    func exhaustion() {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(maxAttempts: 5), clock: clock, random: FixedRandom(0.5))
        var calls = 0
        #expect(throws: Self.throttle) {
            try r.run(deadline: Deadline(seconds: 300, clock: clock)) { (_, _) throws(AWSError) -> Int in
                calls += 1
                throw Self.throttle
            }
        }
        #expect(calls == 5)
        #expect(clock.sleeps == [0.5, 1, 2, 4])
    }

    @Test("AWS_MAX_ATTEMPTS=1 disables retries")
    func singleAttempt() {
        let clock = FakeClock()
        let policy = RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "1"])
        let r = Retrier(policy: policy, clock: clock, random: FixedRandom(0.5))
        var calls = 0
        #expect(throws: Self.internalError) {
            try r.run(deadline: Deadline(seconds: 30, clock: clock)) { (_, _) throws(AWSError) -> Int in
                calls += 1
                throw Self.internalError
            }
        }
        #expect(calls == 1)
    }

    @Test("each attempt's timeout is the time left; the cap applies when smaller")
    func timeouts() throws {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(maxAttempts: 3), clock: clock, random: FixedRandom(0.5))
        var seen: [Double] = []
        _ = try r.run(deadline: Deadline(seconds: 10, clock: clock)) { (n, t) throws(AWSError) -> Int in
            seen.append(t)
            clock.advance(2)  // the exchange took 2 s
            if n < 3 { throw Self.throttle }
            return 1
        }
        // 10; after 2 s + 0.5 s backoff: 7.5; after 2 s + 1 s: 4.5
        #expect(seen == [10, 7.5, 4.5])
        var capped: [Double] = []
        _ = try r.run(deadline: Deadline(seconds: 10, clock: clock), attemptTimeoutCap: 1) { (_, t) throws(AWSError) -> Int in
            capped.append(t)
            return 1
        }
        #expect(capped == [1])
    }

    @Test("never sleeps past the deadline: stops with deadlineExceeded carrying the last code")
    func deadlineRespected() {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(maxAttempts: 10), clock: clock, random: FixedRandom(0.999))
        let start = clock.monotonic()
        var calls = 0
        #expect(throws: AWSError.deadlineExceeded(lastError: "RequestLimitExceeded", attempts: 3)) {
            try r.run(deadline: Deadline(seconds: 5, clock: clock)) { (_, _) throws(AWSError) -> Int in
                calls += 1
                clock.advance(0.1)
                throw Self.throttle
            }
        }
        // Sleeps ≈1 and ≈2 fit (t ≈ 3.3); the next (≈4) would end past 5 s.
        #expect(calls == 3)
        #expect(clock.sleeps.count == 2)
        #expect(clock.monotonic() - start <= 5)
    }

    @Test("an attempt that uses up the deadline (timeout) ends the call")
    func timeoutConsumesDeadline() {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(maxAttempts: 3), clock: clock, random: FixedRandom(0.5))
        #expect(throws: AWSError.deadlineExceeded(lastError: "timeout: 5 s", attempts: 1)) {
            try r.run(deadline: Deadline(seconds: 5, clock: clock)) { (_, t) throws(AWSError) -> Int in
                clock.advance(t)
                throw AWSError.transport(.timeout("5 s"))
            }
        }
    }

    @Test("an already expired deadline makes no attempt")
    func expired() {
        let clock = FakeClock()
        let r = Retrier(policy: RetryPolicy(), clock: clock, random: FixedRandom(0.5))
        var calls = 0
        #expect(throws: AWSError.self) {
            try r.run(deadline: Deadline(seconds: 0, clock: clock)) { (_, _) throws(AWSError) -> Int in
                calls += 1
                return 1
            }
        }
        #expect(calls == 0)
    }

    @Test("the system clock is monotonic and sleeps")
    func systemClock() {
        let c = SystemClock()
        let a = c.monotonic()
        c.sleep(seconds: 0.01)
        #expect(c.monotonic() - a >= 0.009)
        #expect(c.now() > 1_600_000_000)
        let u = SystemRandom().unit()
        #expect(u >= 0 && u < 1)
    }
}
