import Glibc
import JSON

/// Where the credentials in use came from.
public enum CredentialSource: String, Sendable, Equatable {
    case environment
    case webIdentity = "web-identity"
    case container
    case instanceProfile = "instance-profile"
}

/// The SDKs' default credential chain, in their order:
/// 1. environment: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
/// 2. web identity (IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (+ `AWS_ROLE_SESSION_NAME`) through an
///    unsigned STS `AssumeRoleWithWebIdentity`;
/// 3. container credentials (EKS Pod Identity, ECS): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (else `…_FULL_URI`)
///    with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` / `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
/// 4. the instance role through IMDS (`iam/security-credentials/`).
///
/// A source is used when its variables are set; if it then fails, the chain fails (it never silently switches to a
/// different identity). Results are cached in-process until `refreshMargin` (5 minutes) before they expire.
/// No error or description produced here ever contains a secret key, session token or web identity token.
public final class CredentialChain {
    public static let refreshMargin = 300.0
    public static let stsAPIVersion = "2011-06-15"
    /// botocore's container provider: 2 s per attempt, 3 attempts.
    public static let containerTimeout = 2.0
    static let containerRelativeHost = "http://169.254.170.2"
    static let maxFileBytes = 64 << 10

    private let environment: [String: String]
    private let transport: any HTTPTransport
    private let clock: any AWSClock
    private let retrier: Retrier
    private let imds: IMDSClient?
    private let region: String?
    private let readFile: (String) throws(AWSError) -> [UInt8]
    public var deadline: Deadline

    private var cached: AWSCredentials? = nil
    public private(set) var source: CredentialSource? = nil
    /// How many times a source was actually asked (cache misses).
    public private(set) var fetches = 0

    /// `region` picks the regional STS endpoint (`nil`: the global `sts.amazonaws.com`). `readFile` reads token
    /// files (injected for tests; default: the file system, at most 64 KiB).
    public init(environment: [String: String], transport: any HTTPTransport, clock: any AWSClock,
                random: any AWSRandom, deadline: Deadline, imds: IMDSClient?, region: String?,
                retryPolicy: RetryPolicy = RetryPolicy(),
                readFile: @escaping (String) throws(AWSError) -> [UInt8] = CredentialChain.readSmallFile)
    {
        self.environment = environment
        self.transport = transport
        self.clock = clock
        self.retrier = Retrier(policy: retryPolicy, clock: clock, random: random)
        self.deadline = deadline
        self.imds = imds
        self.region = region
        self.readFile = readFile
    }

    /// Valid credentials, from the cache while they have more than 5 minutes left.
    public func credentials() throws(AWSError) -> AWSCredentials {
        if let cached, !needsRefresh(cached) { return cached }
        fetches += 1
        let (creds, src) = try fetch()
        cached = creds
        source = src
        return creds
    }

    /// Forgets the cache (e.g. after EC2 answered `ExpiredToken`).
    public func invalidate() {
        cached = nil
    }

    func needsRefresh(_ c: AWSCredentials) -> Bool {
        guard let expiration = c.expiration else { return false }
        return clock.now() >= expiration - Self.refreshMargin
    }

    private func env(_ key: String) -> String? {
        guard let v = environment[key]?.trimmingASCIIWhitespace(), !v.isEmpty else { return nil }
        return v
    }

    private func fetch() throws(AWSError) -> (AWSCredentials, CredentialSource) {
        if env("AWS_ACCESS_KEY_ID") != nil || env("AWS_SECRET_ACCESS_KEY") != nil {
            return (try fromEnvironment(), .environment)
        }
        if env("AWS_WEB_IDENTITY_TOKEN_FILE") != nil {
            return (try fromWebIdentity(), .webIdentity)
        }
        if env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != nil || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != nil {
            return (try fromContainer(), .container)
        }
        if let imds, !imds.disabled {
            return (try fromInstanceProfile(imds), .instanceProfile)
        }
        throw .credentials(
            "none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN or "
                + "AWS_CONTAINER_CREDENTIALS_FULL_URI, or run on an instance with a role (IMDS is disabled)")
    }

    // MARK: Environment

    private func fromEnvironment() throws(AWSError) -> AWSCredentials {
        guard let id = env("AWS_ACCESS_KEY_ID") else {
            throw .credentials("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        }
        guard let secret = env("AWS_SECRET_ACCESS_KEY") else {
            throw .credentials("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env("AWS_SESSION_TOKEN"),
                              expiration: nil)
    }

    // MARK: Web identity

    /// `AWS_ENDPOINT_URL_STS` > `AWS_ENDPOINT_URL` > `https://sts.<region>.amazonaws.com` (global without region).
    public static func stsEndpoint(environment: [String: String], region: String?) -> String {
        for key in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] {
            if let v = environment[key]?.trimmingASCIIWhitespace(), !v.isEmpty { return v }
        }
        guard let region, !region.isEmpty else { return "https://sts.amazonaws.com" }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return "https://sts.\(region).\(suffix)"
    }

    private func fromWebIdentity() throws(AWSError) -> AWSCredentials {
        guard let roleARN = env("AWS_ROLE_ARN") else {
            throw .credentials("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        }
        let tokenFile = env("AWS_WEB_IDENTITY_TOKEN_FILE")!
        let token = String(decoding: try readFile(tokenFile), as: UTF8.self).trimmingASCIIWhitespace()
        guard !token.isEmpty else { throw .credentials("web identity token file \(tokenFile) is empty") }
        let sessionName = env("AWS_ROLE_SESSION_NAME") ?? "eni-multus-\(Int(clock.now()))"
        var endpoint = Self.stsEndpoint(environment: environment, region: env("AWS_REGION") ?? region)
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        let body = Array(QueryEncoding.encode([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", Self.stsAPIVersion), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ]).utf8)
        let what = "web identity (STS AssumeRoleWithWebIdentity for \(roleARN))"
        let doc: XMLElement
        do {
            doc = try retrier.run(deadline: deadline) { (_, timeout) throws(AWSError) -> XMLElement in
                let request = HTTPRequest(
                    method: "POST", url: endpoint + "/",
                    headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], body: body,
                    timeout: timeout)
                let response: HTTPResponse
                do throws(TransportError) {
                    response = try transport.send(request)
                } catch {
                    throw AWSError.transport(error)
                }
                guard response.status == 200 else {
                    let e = AWSError.fromErrorResponse(status: response.status, body: response.body,
                                                       headers: response.headers)
                    // STS documents IDPCommunicationError as retryable; the chain treats it as transient.
                    throw e
                }
                do throws(XMLError) {
                    return try XMLParser.parse(response.body)
                } catch {
                    throw AWSError.malformedResponse("STS response: \(error)")
                }
            }
        } catch {
            throw wrap(error, what, secrets: [token])
        }
        guard let c = doc.first("Credentials"), let id = c.string("AccessKeyId"),
            let secret = c.string("SecretAccessKey"), !id.isEmpty, !secret.isEmpty
        else {
            throw .credentials("\(what): response without Credentials")
        }
        return AWSCredentials(
            accessKeyID: id.trimmingASCIIWhitespace(), secretAccessKey: secret.trimmingASCIIWhitespace(),
            sessionToken: c.string("SessionToken")?.trimmingASCIIWhitespace(),
            expiration: try expiration(c.string("Expiration"), what))
    }

    // MARK: Container (EKS Pod Identity)

    /// An `http://` full URI is accepted only for loopback hosts and the container-credential link-local
    /// addresses (169.254.170.2 ECS, 169.254.170.23 / fd00:ec2::23 EKS Pod Identity), as the SDKs require.
    static func containerURIAllowed(_ url: HTTPURL) -> Bool {
        if url.scheme == "https" { return true }
        let h = url.bareHost
        if h == "localhost" || h == "::1" || h.hasPrefix("127.") { return true }
        return h == "169.254.170.2" || h == "169.254.170.23" || h == "fd00:ec2::23"
    }

    private func fromContainer() throws(AWSError) -> AWSCredentials {
        let uri: String
        // RELATIVE_URI wins over FULL_URI, as botocore's ContainerProvider (and the other SDKs) decide.
        if let rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            uri = Self.containerRelativeHost + (rel.hasPrefix("/") ? rel : "/" + rel)
        } else {
            uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")!
        }
        guard let url = HTTPURL(uri) else {
            throw .credentials("container credentials URI is not an http(s) URL")
        }
        guard Self.containerURIAllowed(url) else {
            throw .credentials("container credentials URI host \(url.host) is not allowed over http")
        }
        var authorization: String? = nil
        if let file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            authorization = String(decoding: try readFile(file), as: UTF8.self).trimmingASCIIWhitespace()
        } else if let t = env("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            authorization = t
        }
        if let a = authorization, a.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) {
            throw .credentials("container authorization token contains a line break")
        }
        let what = "container credentials (\(url.scheme)://\(url.hostHeader))"
        let response: HTTPResponse
        do {
            response = try retrier.run(deadline: deadline, attemptTimeoutCap: Self.containerTimeout) {
                (_, timeout) throws(AWSError) -> HTTPResponse in
                var headers: [(name: String, value: String)] = [("Accept", "application/json")]
                if let authorization { headers.append(("Authorization", authorization)) }
                let r: HTTPResponse
                do throws(TransportError) {
                    r = try transport.send(HTTPRequest(method: "GET", url: uri, headers: headers, timeout: timeout))
                } catch {
                    throw AWSError.transport(error)
                }
                if AWSError.transientStatuses.contains(r.status) || r.status == 429 {
                    throw AWSError.service(code: Self.jsonCode(r.body) ?? "HTTP\(r.status)", message: "",
                                           httpStatus: r.status, requestID: nil)
                }
                return r
            }
        } catch {
            throw wrap(error, what, secrets: authorization.map { [$0] } ?? [])
        }
        guard response.status == 200 else {
            let code = Self.jsonCode(response.body).map { " (\($0))" } ?? ""
            throw .credentials(Self.scrub("\(what): HTTP \(response.status)\(code)", authorization.map { [$0] } ?? []))
        }
        return try credentialsJSON(response.body, what)
    }

    // MARK: IMDS instance role

    private func fromInstanceProfile(_ imds: IMDSClient) throws(AWSError) -> AWSCredentials {
        let what = "instance profile (IMDS)"
        let roles: [String]
        do {
            roles = try imds.metadataList("iam/security-credentials/")
        } catch {
            throw wrap(error, what, secrets: [])
        }
        guard let role = roles.first else {
            throw .credentials("none found: no environment credentials, no web identity, no container credentials, "
                + "and the instance has no IAM role")
        }
        let body: String?
        do {
            body = try imds.metadata("iam/security-credentials/\(role)")
        } catch {
            throw wrap(error, what, secrets: [])
        }
        guard let body else { throw .credentials("\(what): role \(role) has no credentials (HTTP 404)") }
        return try credentialsJSON(Array(body.utf8), "\(what) role \(role)")
    }

    // MARK: Shared decoding

    /// `{AccessKeyId, SecretAccessKey, Token, Expiration}` (IMDS adds `Code: Success`).
    private func credentialsJSON(_ bytes: [UInt8], _ what: String) throws(AWSError) -> AWSCredentials {
        let json: JSON
        do throws(JSONError) {
            json = try JSON.parse(bytes)
        } catch {
            throw .credentials("\(what): response is not JSON")
        }
        if let code = json["Code"]?.stringValue, code != "Success" {
            throw .credentials("\(what): Code \(code)")
        }
        guard let id = json["AccessKeyId"]?.stringValue, !id.isEmpty,
            let secret = json["SecretAccessKey"]?.stringValue, !secret.isEmpty
        else {
            throw .credentials("\(what): response without AccessKeyId/SecretAccessKey")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: json["Token"]?.stringValue,
                              expiration: try expiration(json["Expiration"]?.stringValue, what))
    }

    private func expiration(_ text: String?, _ what: String) throws(AWSError) -> Double? {
        guard let text = text?.trimmingASCIIWhitespace(), !text.isEmpty else { return nil }
        guard let t = ISO8601.parse(text) else {
            throw .credentials("\(what): unparsable Expiration")
        }
        return t
    }

    static func jsonCode(_ body: [UInt8]) -> String? {
        guard let j = try? JSON.parse(body), let c = j["Code"]?.stringValue, c.count <= 64 else { return nil }
        return c.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }) ? c : nil
    }

    /// Retryable failures and deadline exhaustion keep their type (so the caller can say "try again later");
    /// everything else becomes `.credentials` naming the source. Known secrets are scrubbed from any text.
    static func scrub(_ s: String, _ secrets: [String]) -> String {
        var out = s
        for secret in secrets where secret.count >= 4 {
            out = out.replacingAll(secret, with: "<redacted>")
        }
        return out
    }

    private func wrap(_ error: AWSError, _ what: String, secrets: [String]) -> AWSError {
        func scrub(_ s: String) -> String { Self.scrub(s, secrets) }
        switch error {
        case .deadlineExceeded(let last, let attempts):
            return .deadlineExceeded(lastError: scrub("\(what): \(last)"), attempts: attempts)
        case .service(let code, let message, let status, let rid) where error.isRetryable:
            return .service(code: code, message: scrub("\(what): \(message)"), httpStatus: status, requestID: rid)
        case .transport:
            return error
        default:
            return .credentials(scrub("\(what): \(error)"))
        }
    }

    // MARK: Files

    /// Reads a token file (at most 64 KiB) without Foundation.
    public static func readSmallFile(_ path: String) throws(AWSError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .credentials("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .credentials("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > maxFileBytes { throw .credentials("\(path) is larger than \(maxFileBytes) bytes") }
        }
        return out
    }
}

/// ISO-8601 / RFC 3339 timestamps as AWS writes them (`2019-11-09T13:34:41Z`, `…41.123Z`, `…41+00:00`), to
/// seconds since the epoch. No Foundation.
public enum ISO8601 {
    public static func parse(_ s: String) -> Double? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 19, let year = num(0, 4), b[4] == UInt8(ascii: "-"), let month = num(5, 2),
            b[7] == UInt8(ascii: "-"), let day = num(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t")
                || b[10] == UInt8(ascii: " "),
            let hour = num(11, 2), b[13] == UInt8(ascii: ":"), let minute = num(14, 2), b[16] == UInt8(ascii: ":"),
            let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour <= 23, minute <= 59, second <= 60 else {
            return nil
        }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }  // a zone is required
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
            guard let oh = num(i + 1, 2) else { return nil }
            var j = i + 3
            if j < b.count, b[j] == UInt8(ascii: ":") { j += 1 }
            guard let om = num(j, 2), oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
            i = j + 2
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let secs = days * 86400 + hour * 3600 + minute * 60 + second - offset
        return Double(secs) + fraction
    }

    /// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}

extension String {
    func replacingAll(_ needle: String, with replacement: String) -> String {
        guard !needle.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.awsRange(of: needle) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func awsRange(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle.utf8)
        let h = Array(self.utf8)
        guard n.count <= h.count, !n.isEmpty else { return nil }
        for start in 0...(h.count - n.count) where h[start] == n[0] {
            if Array(h[start..<(start + n.count)]) == n {
                let lower = utf8.index(utf8.startIndex, offsetBy: start)
                let upper = utf8.index(lower, offsetBy: n.count)
                return lower..<upper
            }
        }
        return nil
    }
}
