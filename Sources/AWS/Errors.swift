/// Everything the AWS layer can fail with. Descriptions name the AWS error code (what an operator searches for)
/// and never contain credentials, tokens or request bodies.
public enum AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The service answered with an error document (`<Response><Errors><Error><Code>…` or `<ErrorResponse>`), or
    /// with an HTTP error status and no parsable document (code `HTTP<status>`).
    case service(code: String, message: String, httpStatus: Int, requestID: String?)
    /// No HTTP response at all.
    case transport(TransportError)
    /// The per-invocation deadline passed (or would pass during the next backoff) before a call succeeded.
    /// `lastError` is the last AWS error code (`RequestLimitExceeded`) or the last transport failure.
    case deadlineExceeded(lastError: String, attempts: Int)
    /// No credential source produced credentials, or a configured source failed.
    case credentials(String)
    /// The instance metadata service refused, is disabled, or answered without what was asked.
    case imds(String)
    /// The instance metadata service did not answer usefully after its retries (unreachable, 5xx, timeouts):
    /// transient, so the runtime should try again later.
    case imdsUnavailable(String)
    /// A 2xx response that is not what the API documents.
    case malformedResponse(String)

    /// Error codes the SDKs treat as throttling (botocore `ThrottledRetryableChecker`, standard mode).
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException",
    ]

    /// Codes the SDKs retry as transient (botocore `TransientRetryableChecker`), plus the 5xx-style codes EC2 and
    /// STS return in error documents.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError", "InternalFailure",
        "ServiceUnavailable", "Unavailable", "ServiceUnavailableException", "IDPCommunicationError",
    ]

    /// HTTP statuses retried whatever the code (standard mode: 500, 502, 503, 504).
    public static let transientStatuses: Set<Int> = [500, 502, 503, 504]

    /// The AWS error code, when there is one (`deadlineExceeded` carries the last one seen).
    public var code: String? {
        switch self {
        case .service(let code, _, _, _): return code
        case .deadlineExceeded(let last, _): return last
        default: return nil
        }
    }

    public var isThrottling: Bool {
        if case .service(let code, _, _, _) = self { return Self.throttlingCodes.contains(code) }
        return false
    }

    /// Whether another attempt of the same call may succeed (throttling, 5xx, transient codes, transport errors).
    public var isRetryable: Bool {
        switch self {
        case .service(let code, _, let status, _):
            return Self.throttlingCodes.contains(code) || Self.transientCodes.contains(code)
                || Self.transientStatuses.contains(status)
        case .transport(let t):
            if case .unavailable = t { return false }
            return true
        default:
            return false
        }
    }

    /// Whether the caller should report "try again later" (CNI code 11): retryable errors that ran out of
    /// attempts, and an exhausted deadline.
    public var isTryAgainLater: Bool {
        if case .deadlineExceeded = self { return true }
        if case .imdsUnavailable = self { return true }
        return isRetryable
    }

    public var description: String {
        switch self {
        case .service(let code, let message, let status, let requestID):
            var s = "AWS \(code)"
            if !message.isEmpty { s += ": \(message)" }
            s += " (HTTP \(status)"
            if let requestID, !requestID.isEmpty { s += ", request id \(requestID)" }
            return s + ")"
        case .transport(let t):
            return "AWS endpoint unreachable: \(t)"
        case .deadlineExceeded(let last, let attempts):
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            return "AWS call did not succeed before the deadline (\(tries), last error \(last))"
        case .credentials(let s):
            return "AWS credentials: \(s)"
        case .imds(let s):
            return "instance metadata (IMDS): \(s)"
        case .imdsUnavailable(let s):
            return "instance metadata (IMDS) unavailable: \(s)"
        case .malformedResponse(let s):
            return "unexpected AWS response: \(s)"
        }
    }

    /// A short form of the error for `deadlineExceeded(lastError:)`: the AWS code when there is one.
    var shortForm: String {
        switch self {
        case .service(let code, _, _, _): return code
        case .transport(let t): return t.description
        case .deadlineExceeded(let last, _): return last
        default: return description
        }
    }
}

extension AWSError {
    /// Decodes an AWS error document, namespace-agnostic:
    /// - EC2: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
    /// - STS / Query: `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`
    /// Falls back to `HTTP<status>` when the body is not such a document.
    static func fromErrorResponse(status: Int, body: [UInt8], headers: [(name: String, value: String)] = [])
        -> AWSError
    {
        let headerRequestID = headers.first { $0.name == "x-amzn-requestid" || $0.name == "x-amz-request-id" }?.value
        if let root = try? XMLParser.parse(body), let error = root.first("Error"),
            let code = error.string("Code"), !code.isEmpty
        {
            let requestID = root.string("RequestID") ?? root.string("RequestId") ?? headerRequestID
            return .service(code: code, message: error.string("Message") ?? "", httpStatus: status,
                            requestID: requestID)
        }
        return .service(code: "HTTP\(status)", message: "", httpStatus: status, requestID: headerRequestID)
    }
}

extension AWSError {
    /// The same error with every occurrence of `secrets` (a secret key, a session token) replaced by
    /// `<redacted>`: a service may echo request material in its messages, and nothing secret may reach a log.
    public func scrubbing(_ secrets: [String]) -> AWSError {
        let s = secrets.filter { $0.count >= 4 }
        guard !s.isEmpty else { return self }
        func clean(_ t: String) -> String { CredentialChain.scrub(t, s) }
        switch self {
        case .service(let code, let message, let status, let rid):
            return .service(code: clean(code), message: clean(message), httpStatus: status, requestID: rid.map(clean))
        case .deadlineExceeded(let last, let attempts): return .deadlineExceeded(lastError: clean(last), attempts: attempts)
        case .credentials(let m): return .credentials(clean(m))
        case .imds(let m): return .imds(clean(m))
        case .imdsUnavailable(let m): return .imdsUnavailable(clean(m))
        case .malformedResponse(let m): return .malformedResponse(clean(m))
        case .transport: return self
        }
    }
}
