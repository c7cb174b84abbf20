/// Per-ENI data from IMDS (`meta-data/network/interfaces/macs/<mac>/…`). Lists are in IMDS order (for
/// `local-ipv4s` the primary address first); absent keys are `nil` / empty.
public struct ENIMetadata: Sendable, Equatable {
    public var mac: String
    public var interfaceID: String
    public var deviceNumber: Int
    /// `network-card` (absent on single-card instance types → 0).
    public var networkCard: Int
    public var subnetID: String?
    public var subnetIPv4CIDR: String?
    public var subnetIPv6CIDRs: [String]
    public var vpcID: String?
    public var localIPv4s: [String]
    public var ipv6s: [String]
    public var ipv4Prefixes: [String]
    public var ipv6Prefixes: [String]
    public var securityGroupIDs: [String]

    public init(mac: String, interfaceID: String, deviceNumber: Int, networkCard: Int = 0, subnetID: String? = nil,
                subnetIPv4CIDR: String? = nil, subnetIPv6CIDRs: [String] = [], vpcID: String? = nil,
                localIPv4s: [String] = [], ipv6s: [String] = [], ipv4Prefixes: [String] = [],
                ipv6Prefixes: [String] = [], securityGroupIDs: [String] = [])
    {
        self.mac = mac
        self.interfaceID = interfaceID
        self.deviceNumber = deviceNumber
        self.networkCard = networkCard
        self.subnetID = subnetID
        self.subnetIPv4CIDR = subnetIPv4CIDR
        self.subnetIPv6CIDRs = subnetIPv6CIDRs
        self.vpcID = vpcID
        self.localIPv4s = localIPv4s
        self.ipv6s = ipv6s
        self.ipv4Prefixes = ipv4Prefixes
        self.ipv6Prefixes = ipv6Prefixes
        self.securityGroupIDs = securityGroupIDs
    }
}

/// An IMDSv2 client: session token from `PUT /latest/api/token` (TTL header), reused until shortly before it
/// expires, refreshed once when a GET answers 401. Never falls back to IMDSv1.
///
/// Every exchange has a short timeout (`callTimeout`, 1 s) further bounded by the invocation's deadline. HTTP 5xx
/// and connection failures are retried (`maxAttempts`, short fixed backoff); a timeout is not (an unreachable IMDS
/// would otherwise cost seconds).
public final class IMDSClient {
    public static let defaultEndpoint = "http://169.254.169.254"
    public static let defaultIPv6Endpoint = "http://[fd00:ec2::254]"
    public static let defaultTokenTTL = 21600
    public static let defaultCallTimeout = 1.0
    public static let defaultMaxAttempts = 3
    static let tokenPath = "/latest/api/token"

    /// Base URL without a trailing slash.
    public let endpoint: String
    /// `AWS_EC2_METADATA_DISABLED=true`: every call fails with `AWSError.imds` without touching the network.
    public let disabled: Bool
    public let tokenTTL: Int
    public let callTimeout: Double
    public let maxAttempts: Int
    public var deadline: Deadline

    private let transport: any HTTPTransport
    private let clock: any AWSClock
    private var token: String? = nil
    /// Monotonic time after which the token is no longer used.
    private var tokenRefreshAt: Double = 0

    /// Token PUTs and GETs sent (tests and the call budget read these).
    public private(set) var tokenRequests = 0
    public private(set) var getRequests = 0

    public init(endpoint: String = IMDSClient.defaultEndpoint, transport: any HTTPTransport, clock: any AWSClock,
                deadline: Deadline, disabled: Bool = false, tokenTTL: Int = IMDSClient.defaultTokenTTL,
                callTimeout: Double = IMDSClient.defaultCallTimeout, maxAttempts: Int = IMDSClient.defaultMaxAttempts)
    {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.transport = transport
        self.clock = clock
        self.deadline = deadline
        self.disabled = disabled
        self.tokenTTL = min(max(tokenTTL, 1), 21600)
        self.callTimeout = callTimeout
        self.maxAttempts = max(1, maxAttempts)
    }

    /// Honours `AWS_EC2_METADATA_DISABLED` (`true`, case-insensitive), `AWS_EC2_METADATA_SERVICE_ENDPOINT`,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`, and, as the SDKs do, `AWS_METADATA_SERVICE_TIMEOUT` (seconds
    /// per exchange, default 1) and `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (default 3 here); both stay bounded by
    /// the invocation's deadline.
    public static func fromEnvironment(_ environment: [String: String], transport: any HTTPTransport,
                                       clock: any AWSClock, deadline: Deadline) -> IMDSClient
    {
        var callTimeout = defaultCallTimeout
        if let t = environment["AWS_METADATA_SERVICE_TIMEOUT"].flatMap({ Double($0.trimmingASCIIWhitespace()) }),
           t > 0, t.isFinite {
            callTimeout = t
        }
        var attempts = defaultMaxAttempts
        if let n = environment["AWS_METADATA_SERVICE_NUM_ATTEMPTS"].flatMap({ Int($0.trimmingASCIIWhitespace()) }), n >= 1 {
            attempts = n
        }
        let disabled = environment["AWS_EC2_METADATA_DISABLED"]?.trimmingASCIIWhitespace().lowercased() == "true"
        var endpoint = defaultEndpoint
        if let e = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"]?.trimmingASCIIWhitespace(), !e.isEmpty {
            endpoint = e
        } else if environment["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6" {
            endpoint = defaultIPv6Endpoint
        }
        return IMDSClient(endpoint: endpoint, transport: transport, clock: clock, deadline: deadline,
                          disabled: disabled, callTimeout: callTimeout, maxAttempts: attempts)
    }

    // MARK: Raw access

    /// `GET /latest/<path>` (e.g. `meta-data/instance-id`); `nil` on 404.
    public func get(_ path: String) throws(AWSError) -> String? {
        if disabled { throw .imds("disabled by AWS_EC2_METADATA_DISABLED") }
        let relative = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let url = endpoint + "/latest/" + relative
        var refreshedAfter401 = false
        while true {
            let token = try currentToken()
            let response = try exchange(HTTPRequest(
                method: "GET", url: url, headers: [("X-aws-ec2-metadata-token", token)], timeout: 0),
                what: "GET \(relative)")
            switch response.status {
            case 200:
                return String(decoding: response.body, as: UTF8.self)
            case 404:
                return nil
            case 401 where !refreshedAfter401:
                refreshedAfter401 = true
                self.token = nil
                continue
            default:
                throw .imds("GET \(relative): HTTP \(response.status)")
            }
        }
    }

    /// `meta-data/<path>`; `nil` on 404.
    public func metadata(_ path: String) throws(AWSError) -> String? {
        try get("meta-data/" + path)
    }

    /// `meta-data/<path>` as newline-separated lines (trimmed, empties dropped); empty on 404.
    public func metadataList(_ path: String) throws(AWSError) -> [String] {
        guard let text = try metadata(path) else { return [] }
        return Self.lines(text)
    }

    /// `meta-data/<path>`, required: 404 is an error.
    public func requiredMetadata(_ path: String) throws(AWSError) -> String {
        guard let v = try metadata(path)?.trimmingASCIIWhitespace(), !v.isEmpty else {
            throw .imds("meta-data/\(path) is absent")
        }
        return v
    }

    // MARK: Typed accessors

    public func instanceID() throws(AWSError) -> String { try requiredMetadata("instance-id") }
    public func instanceType() throws(AWSError) -> String { try requiredMetadata("instance-type") }
    public func availabilityZone() throws(AWSError) -> String { try requiredMetadata("placement/availability-zone") }

    /// `placement/region`, or the availability zone without its trailing letter when that key is absent.
    public func region() throws(AWSError) -> String {
        if let r = try metadata("placement/region")?.trimmingASCIIWhitespace(), !r.isEmpty { return r }
        var az = try availabilityZone()
        while let last = az.last, last.isLetter { az.removeLast() }
        guard !az.isEmpty else { throw .imds("cannot derive the region from the availability zone") }
        return az
    }

    /// The MACs of the attached ENIs (`network/interfaces/macs/`, trailing `/` removed, lower-cased).
    public func macs() throws(AWSError) -> [String] {
        try metadataList("network/interfaces/macs/").map { line in
            var m = line
            while m.hasSuffix("/") { m.removeLast() }
            return m.lowercased()
        }
    }

    /// Everything IMDS knows about the ENI with this MAC; `nil` when that MAC is not attached (its
    /// `interface-id` answers 404).
    public func eni(mac: String) throws(AWSError) -> ENIMetadata? {
        let m = mac.lowercased()
        let base = "network/interfaces/macs/\(m)/"
        guard let interfaceID = try metadata(base + "interface-id")?.trimmingASCIIWhitespace(),
            !interfaceID.isEmpty
        else { return nil }
        func value(_ key: String) throws(AWSError) -> String? {
            guard let v = try metadata(base + key)?.trimmingASCIIWhitespace(), !v.isEmpty else { return nil }
            return v
        }
        guard let deviceText = try value("device-number"), let device = Int(deviceText) else {
            throw .imds("\(base)device-number is absent or not a number")
        }
        return ENIMetadata(
            mac: m, interfaceID: interfaceID, deviceNumber: device,
            networkCard: try value("network-card").flatMap { Int($0) } ?? 0,
            subnetID: try value("subnet-id"), subnetIPv4CIDR: try value("subnet-ipv4-cidr-block"),
            subnetIPv6CIDRs: try metadataList(base + "subnet-ipv6-cidr-blocks"), vpcID: try value("vpc-id"),
            localIPv4s: try metadataList(base + "local-ipv4s"), ipv6s: try metadataList(base + "ipv6s"),
            ipv4Prefixes: try metadataList(base + "ipv4-prefix"), ipv6Prefixes: try metadataList(base + "ipv6-prefix"),
            securityGroupIDs: try metadataList(base + "security-group-ids"))
    }

    /// `local-ipv4s` of one MAC (for confirming an assignment landed); empty when absent.
    public func localIPv4s(mac: String) throws(AWSError) -> [String] {
        try metadataList("network/interfaces/macs/\(mac.lowercased())/local-ipv4s")
    }

    /// `ipv6s` of one MAC; empty when absent.
    public func ipv6s(mac: String) throws(AWSError) -> [String] {
        try metadataList("network/interfaces/macs/\(mac.lowercased())/ipv6s")
    }

    // MARK: Token and exchanges

    private func currentToken() throws(AWSError) -> String {
        if let token, clock.monotonic() < tokenRefreshAt { return token }
        token = nil
        let fetchedAt = clock.monotonic()
        let response = try exchange(HTTPRequest(
            method: "PUT", url: endpoint + Self.tokenPath,
            headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(tokenTTL))], timeout: 0), what: "token PUT")
        switch response.status {
        case 200:
            let value = String(decoding: response.body, as: UTF8.self).trimmingASCIIWhitespace()
            guard !value.isEmpty, !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw .imds("token PUT returned an empty or invalid token")
            }
            var ttl = Double(tokenTTL)
            if let echoed = response.header("x-aws-ec2-metadata-token-ttl-seconds").flatMap({ Double($0) }),
                echoed > 0, echoed < ttl
            {
                ttl = echoed
            }
            // Stop using the token a little before IMDS stops accepting it.
            tokenRefreshAt = fetchedAt + ttl - min(60, ttl / 4)
            token = value
            return value
        case 403:
            throw .imds("token PUT forbidden (HTTP 403): IMDS is disabled for this instance")
        case 400:
            throw .imds("token PUT rejected (HTTP 400): bad TTL \(tokenTTL)")
        default:
            throw .imds("token PUT: HTTP \(response.status)")
        }
    }

    /// Sends with the per-call timeout (bounded by the deadline), retrying 5xx and connection failures.
    private func exchange(_ template: HTTPRequest, what: String) throws(AWSError) -> HTTPResponse {
        var attempt = 0
        var last = ""
        while true {
            attempt += 1
            let remaining = deadline.remaining
            if remaining < Retrier.minimumAttemptTime {
                throw .deadlineExceeded(lastError: last.isEmpty ? "IMDS \(what)" : last, attempts: attempt - 1)
            }
            var request = template
            request.timeout = min(callTimeout, remaining)
            if request.method == "PUT" { tokenRequests += 1 } else { getRequests += 1 }
            let retryable: Bool
            var transient = true
            do throws(TransportError) {
                let response = try transport.send(request)
                if response.status < 500 { return response }
                last = "IMDS \(what): HTTP \(response.status)"
                retryable = true
            } catch {
                last = "IMDS \(what): \(error)"
                switch error {
                case .connect, .io: retryable = true
                case .timeout: retryable = false
                case .unavailable: retryable = false; transient = false
                }
            }
            // A slow or failing metadata service is a reason to try again later, not a refusal.
            guard retryable, attempt < maxAttempts else { throw transient ? .imdsUnavailable(last) : .imds(last) }
            let delay = 0.05 * Double(attempt)
            if delay + Retrier.minimumAttemptTime >= deadline.remaining {
                throw .deadlineExceeded(lastError: last, attempts: attempt)
            }
            clock.sleep(seconds: delay)
        }
    }

    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { String($0).trimmingASCIIWhitespace() }.filter { !$0.isEmpty }
    }
}
