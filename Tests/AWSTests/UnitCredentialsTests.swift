import Testing
@testable import AWS

@Suite struct UnitCredentialsTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    static let session = "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE"
    static let webToken = "eyJhbGciOiJSUzI1NiJ9.web-identity-token-secret.sig"
    static let podToken = "pod-identity-authorization-token-secret"
    static let clockStart = 1_414_190_000.0  // 2014-10-24T22:33:20Z

    /// The AssumeRoleWithWebIdentity example response from the STS API reference.
    static let stsResponse = """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult>
            <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
            <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
            <AssumedRoleUser>
              <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
              <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
            </AssumedRoleUser>
            <Credentials>
              <SessionToken>\(Self.session)</SessionToken>
              <SecretAccessKey>\(Self.secret)</SecretAccessKey>
              <Expiration>2014-10-24T23:00:23Z</Expiration>
              <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
            </Credentials>
            <Provider>www.amazon.com</Provider>
          </AssumeRoleWithWebIdentityResult>
          <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
        </AssumeRoleWithWebIdentityResponse>
        """

    static func containerJSON(expiration: String = "2014-10-24T23:00:23Z") -> String {
        """
        {"AccessKeyId":"ASIACONTAINEREXAMPLE","SecretAccessKey":"\(Self.secret)","Token":"\(Self.session)",\
        "AccountId":"123456789012","Expiration":"\(expiration)"}
        """
    }

    static func imdsJSON(expiration: String = "2014-10-24T23:00:23Z") -> String {
        """
        {
          "Code" : "Success",
          "LastUpdated" : "2014-10-24T22:30:00Z",
          "Type" : "AWS-HMAC",
          "AccessKeyId" : "ASIAIMDSEXAMPLE",
          "SecretAccessKey" : "\(Self.secret)",
          "Token" : "\(Self.session)",
          "Expiration" : "\(expiration)"
        }
        """
    }

    struct Rig {
        let clock: FakeClock
        let transport: FakeTransport
        let imds: IMDSClient
        var files: [String: String] = [:]
    }

    /// A transport that plays STS (POST …:4566/), the container endpoint (GET …:1339/creds) and IMDS (:1338).
    static func rig(_ clock: FakeClock = FakeClock(wall: clockStart),
                    _ handler: ((HTTPRequest) -> Result<HTTPResponse, TransportError>?)? = nil) -> Rig
    {
        let t = FakeTransport { req, _ in
            if let h = handler, let r = h(req) { return r }
            if req.url.hasPrefix("http://127.0.0.1:4566") { return ok(stsResponse) }
            if req.url.hasPrefix("http://127.0.0.1:1339/creds") { return text(containerJSON()) }
            if req.url == "http://127.0.0.1:1338/latest/api/token" { return text("imds-token") }
            if req.url.hasSuffix("meta-data/iam/security-credentials/") { return text("eks-node-role\n") }
            if req.url.hasSuffix("meta-data/iam/security-credentials/eks-node-role") { return text(imdsJSON()) }
            return text("", status: 404)
        }
        let imds = IMDSClient(endpoint: "http://127.0.0.1:1338", transport: t, clock: clock,
                              deadline: Deadline(seconds: 30, clock: clock))
        return Rig(clock: clock, transport: t, imds: imds)
    }

    static func chain(_ rig: Rig, _ env: [String: String], files: [String: String] = [:],
                      imdsEnabled: Bool = true) -> CredentialChain
    {
        CredentialChain(
            environment: env, transport: rig.transport, clock: rig.clock, random: FixedRandom(0.5),
            deadline: Deadline(seconds: 30, clock: rig.clock), imds: imdsEnabled ? rig.imds : nil, region: "us-west-2",
            readFile: { (path: String) throws(AWSError) -> [UInt8] in
                guard let s = files[path] else { throw .credentials("cannot open \(path): No such file or directory") }
                return Array(s.utf8)
            })
    }

    static let webEnv = [
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/eni-multus",
        "AWS_ROLE_SESSION_NAME": "node-1",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:4566",
    ]
    static let webFiles = ["/var/run/secrets/eks.amazonaws.com/serviceaccount/token": webToken + "\n"]
    static let podEnv = [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1339/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
    ]
    static let podFiles = ["/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token": podToken]

    // MARK: Sources

    @Test("environment: keys and session token, no request")
    func environment() throws {
        let r = Self.rig()
        let c = Self.chain(r, ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": Self.secret,
                               "AWS_SESSION_TOKEN": Self.session])
        let creds = try c.credentials()
        #expect(creds.accessKeyID == "AKIDEXAMPLE")
        #expect(creds.secretAccessKey == Self.secret)
        #expect(creds.sessionToken == Self.session)
        #expect(creds.expiration == nil)
        #expect(c.source == .environment)
        #expect(r.transport.requests.isEmpty)
    }

    @Test("environment: a lone key is an error naming the missing variable, never the value")
    func partialEnvironment() {
        let r = Self.rig()
        #expect(throws: AWSError.credentials("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")) {
            try Self.chain(r, ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"]).credentials()
        }
        // The lone secret: an error too, naming the missing key id and never the secret.
        #expect(throws: AWSError.credentials("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")) {
            try Self.chain(r, ["AWS_SECRET_ACCESS_KEY": Self.secret]).credentials()
        }
        do throws(AWSError) {
            _ = try Self.chain(r, ["AWS_SECRET_ACCESS_KEY": Self.secret]).credentials()
            Issue.record("a lone AWS_SECRET_ACCESS_KEY gave credentials")
        } catch {
            #expect(!error.description.contains(Self.secret))
        }
    }

    @Test("web identity: unsigned STS AssumeRoleWithWebIdentity POST with the token file's content")
    func webIdentity() throws {
        let r = Self.rig()
        let c = Self.chain(r, Self.webEnv, files: Self.webFiles)
        let creds = try c.credentials()
        #expect(creds.accessKeyID == "ASgeIAIOSFODNN7EXAMPLE")
        #expect(creds.secretAccessKey == Self.secret)
        #expect(creds.sessionToken == Self.session)
        #expect(creds.expiration == 1_414_191_623)  // 2014-10-24T23:00:23Z
        #expect(c.source == .webIdentity)
        let req = try #require(r.transport.requests.first)
        #expect(r.transport.requests.count == 1)
        #expect(req.method == "POST")
        #expect(req.url == "http://127.0.0.1:4566/")
        #expect(!req.headers.contains { $0.name.lowercased() == "authorization" })
        #expect(String(decoding: req.body, as: UTF8.self)
            == "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
            + "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Feni-multus&RoleSessionName=node-1"
            + "&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.web-identity-token-secret.sig")
    }

    @Test("STS endpoint: AWS_ENDPOINT_URL_STS > AWS_ENDPOINT_URL > regional > global")
    func stsEndpoint() {
        #expect(CredentialChain.stsEndpoint(environment: [:], region: "eu-west-1") == "https://sts.eu-west-1.amazonaws.com")
        #expect(CredentialChain.stsEndpoint(environment: [:], region: nil) == "https://sts.amazonaws.com")
        #expect(CredentialChain.stsEndpoint(environment: ["AWS_ENDPOINT_URL": "http://a"], region: "x") == "http://a")
        #expect(CredentialChain.stsEndpoint(environment: ["AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_STS": "http://b"],
                                            region: "x") == "http://b")
    }

    @Test("web identity: default session name; missing role ARN; STS errors name the code but not the token")
    func webIdentityErrors() throws {
        var env = Self.webEnv
        env["AWS_ROLE_SESSION_NAME"] = nil
        let r = Self.rig()
        _ = try Self.chain(r, env, files: Self.webFiles).credentials()
        #expect(String(decoding: r.transport.requests[0].body, as: UTF8.self).contains("RoleSessionName=eni-multus-1414190000"))

        var noRole = Self.webEnv
        noRole["AWS_ROLE_ARN"] = nil
        #expect(throws: AWSError.credentials("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")) {
            try Self.chain(Self.rig(), noRole, files: Self.webFiles).credentials()
        }

        let denied = Self.rig { req in
            guard req.url.hasPrefix("http://127.0.0.1:4566") else { return nil }
            return ok("""
                <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>\
                <Code>InvalidIdentityToken</Code><Message>Token \(Self.webToken) is expired</Message></Error>\
                <RequestId>r-1</RequestId></ErrorResponse>
                """, status: 400)
        }
        do throws(AWSError) {
            _ = try Self.chain(denied, Self.webEnv, files: Self.webFiles).credentials()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("InvalidIdentityToken"))
            #expect(error.description.contains("AssumeRoleWithWebIdentity"))
            #expect(!error.description.contains(Self.webToken))
        }
        #expect(throws: AWSError.self) { try Self.chain(Self.rig(), Self.webEnv, files: [:]).credentials() }
    }

    @Test("web identity: throttled STS is retried like any AWS call")
    func webIdentityRetry() throws {
        var n = 0
        let r = Self.rig { req in
            guard req.url.hasPrefix("http://127.0.0.1:4566") else { return nil }
            n += 1
            if n == 1 {
                return ok("<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
                          status: 400)
            }
            return nil
        }
        _ = try Self.chain(r, Self.webEnv, files: Self.webFiles).credentials()
        #expect(r.transport.requests.count == 2)
        #expect(r.clock.sleeps == [0.5])
    }

    @Test("container (EKS Pod Identity): GET with the token file as Authorization")
    func container() throws {
        let r = Self.rig()
        let c = Self.chain(r, Self.podEnv, files: Self.podFiles)
        let creds = try c.credentials()
        #expect(creds.accessKeyID == "ASIACONTAINEREXAMPLE")
        #expect(creds.sessionToken == Self.session)
        #expect(creds.expiration == 1_414_191_623)
        #expect(c.source == .container)
        let req = try #require(r.transport.requests.first)
        #expect(req.method == "GET")
        #expect(req.url == "http://127.0.0.1:1339/creds")
        #expect(req.headers.contains { $0.name == "Authorization" && $0.value == Self.podToken })
        #expect(req.timeout == 2)
    }

    @Test("container: the token variable is used when there is no token file; the file wins over it")
    func containerTokenVariable() throws {
        let r = Self.rig()
        _ = try Self.chain(r, ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1339/creds",
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-env"]).credentials()
        #expect(r.transport.requests[0].headers.contains { $0.name == "Authorization" && $0.value == "from-env" })
        var both = Self.podEnv
        both["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "from-env"
        let r2 = Self.rig()
        _ = try Self.chain(r2, both, files: Self.podFiles).credentials()
        #expect(r2.transport.requests[0].headers.contains { $0.name == "Authorization" && $0.value == Self.podToken })
    }

    @Test("container: http only to loopback and the container link-local addresses")
    func containerHosts() throws {
        for ok in ["http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
                   "http://169.254.170.2/creds", "http://localhost:80/x", "https://creds.example.com/x"] {
            #expect(CredentialChain.containerURIAllowed(try #require(HTTPURL(ok))), "\(ok)")
        }
        for bad in ["http://10.0.0.1/creds", "http://creds.example.com/x", "http://169.254.169.254/x"] {
            #expect(!CredentialChain.containerURIAllowed(try #require(HTTPURL(bad))), "\(bad)")
        }
        let r = Self.rig()
        #expect(throws: AWSError.self) {
            try Self.chain(r, ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.0.0.1/creds"]).credentials()
        }
        #expect(r.transport.requests.isEmpty)
    }

    @Test("container: errors carry the status, never the authorization token")
    func containerErrors() {
        let r = Self.rig { req in
            req.url.hasPrefix("http://127.0.0.1:1339") ? text("{\"Code\":\"AccessDeniedException\",\"Message\":\"token \(Self.podToken) invalid\"}", status: 403) : nil
        }
        do throws(AWSError) {
            _ = try Self.chain(r, Self.podEnv, files: Self.podFiles).credentials()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("403"))
            #expect(error.description.contains("AccessDeniedException"))
            #expect(!error.description.contains(Self.podToken))
        }
    }

    @Test("instance profile through IMDS: role list, then the role's JSON")
    func instanceProfile() throws {
        let r = Self.rig()
        let c = Self.chain(r, [:])
        let creds = try c.credentials()
        #expect(creds.accessKeyID == "ASIAIMDSEXAMPLE")
        #expect(creds.secretAccessKey == Self.secret)
        #expect(creds.sessionToken == Self.session)
        #expect(c.source == .instanceProfile)
        #expect(r.transport.requests.map(\.url) == [
            "http://127.0.0.1:1338/latest/api/token",
            "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/",
            "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/eks-node-role",
        ])
    }

    @Test("no source at all: a clear error; no role on the instance: a clear error")
    func nothing() {
        #expect(throws: AWSError.self) { try Self.chain(Self.rig(), [:], imdsEnabled: false).credentials() }
        let noRole = Self.rig { req in req.url.hasSuffix("security-credentials/") ? text("", status: 404) : nil }
        do throws(AWSError) {
            _ = try Self.chain(noRole, [:]).credentials()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("no IAM role"))
        }
        let failing = Self.rig { req in
            req.url.hasSuffix("eks-node-role") ? text("{\"Code\":\"AssumeRoleUnauthorizedAccess\"}") : nil
        }
        #expect(throws: AWSError.self) { try Self.chain(failing, [:]).credentials() }
    }

    // MARK: Precedence

    @Test("precedence: environment > web identity > container > IMDS")
    func precedence() throws {
        let all = Self.webEnv.merging(Self.podEnv) { a, _ in a }
            .merging(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": Self.secret]) { a, _ in a }
        let files = Self.webFiles.merging(Self.podFiles) { a, _ in a }
        var r = Self.rig()
        var c = Self.chain(r, all, files: files)
        #expect(try c.credentials().accessKeyID == "AKIDENV")
        #expect(c.source == .environment)

        var noEnv = all
        noEnv["AWS_ACCESS_KEY_ID"] = nil
        noEnv["AWS_SECRET_ACCESS_KEY"] = nil
        r = Self.rig()
        c = Self.chain(r, noEnv, files: files)
        _ = try c.credentials()
        #expect(c.source == .webIdentity)

        var podOnly = noEnv
        podOnly["AWS_WEB_IDENTITY_TOKEN_FILE"] = nil
        r = Self.rig()
        c = Self.chain(r, podOnly, files: files)
        _ = try c.credentials()
        #expect(c.source == .container)
        #expect(!r.transport.requests.contains { $0.url.contains(":1338") })  // IMDS not asked
    }

    @Test("a configured source that fails does not fall through to another identity")
    func noFallThrough() {
        let r = Self.rig { req in req.url.hasPrefix("http://127.0.0.1:1339") ? text("", status: 404) : nil }
        #expect(throws: AWSError.self) { try Self.chain(r, Self.podEnv, files: Self.podFiles).credentials() }
        #expect(!r.transport.requests.contains { $0.url.contains(":1338") })
    }

    // MARK: Caching

    @Test("cached until 5 minutes before expiry, then fetched again")
    func caching() throws {
        let clock = FakeClock(wall: Self.clockStart)  // 27 min 3 s before expiry
        let r = Self.rig(clock)
        let c = Self.chain(r, Self.podEnv, files: Self.podFiles)
        _ = try c.credentials()
        clock.wall += 20 * 60
        _ = try c.credentials()
        #expect(c.fetches == 1)
        #expect(r.transport.requests.count == 1)
        clock.wall += 2 * 60 + 30  // 4 min 33 s left
        _ = try c.credentials()
        #expect(c.fetches == 2)
        #expect(r.transport.requests.count == 2)
        c.invalidate()
        _ = try c.credentials()
        #expect(c.fetches == 3)
    }

    @Test("credentials without an expiration are cached for the process")
    func cachingForever() throws {
        let r = Self.rig()
        let c = Self.chain(r, ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": Self.secret])
        _ = try c.credentials()
        r.clock.wall += 1e7
        _ = try c.credentials()
        #expect(c.fetches == 1)
    }

    // MARK: ISO 8601

    @Test("ISO-8601 expiration parsing without Foundation")
    func iso8601() {
        #expect(ISO8601.parse("1970-01-01T00:00:00Z") == 0)
        #expect(ISO8601.parse("2014-10-24T23:00:23Z") == 1_414_191_623)
        #expect(ISO8601.parse("2014-10-24T23:00:23.250Z") == 1_414_191_623.25)
        #expect(ISO8601.parse("2014-10-25T01:00:23+02:00") == 1_414_191_623)
        #expect(ISO8601.parse("2014-10-24T21:00:23-0200") == 1_414_191_623)
        #expect(ISO8601.parse("2024-02-29T12:00:00Z") == 1_709_208_000)
        #expect(ISO8601.parse("2000-03-01T00:00:00Z") == 951_868_800)
        for bad in ["", "2014-10-24", "2014-10-24T23:00:23", "2014-13-01T00:00:00Z", "2014-10-24T23:00:23Zjunk",
                    "20141024T230023Z", "2014-10-24T23:00:23.Z"] {
            #expect(ISO8601.parse(bad) == nil, "\(bad)")
        }
    }

    // MARK: Secrets never leak

    @Test("no error description from any source contains a secret")
    func secretsAbsent() {
        let secrets = [Self.secret, Self.session, Self.webToken, Self.podToken]
        var errors: [AWSError] = []
        func collect(_ body: () throws -> Void) {
            if let e = caught(body) { errors.append(e) } else { Issue.record("expected an AWSError") }
        }
        // Environment, partial.
        collect { _ = try Self.chain(Self.rig(), ["AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": Self.session]).credentials() }
        // STS echoing the token and the secret in its message, and a malformed STS answer.
        collect {
            let r = Self.rig { req in
                req.url.hasPrefix("http://127.0.0.1:4566")
                    ? ok("<ErrorResponse><Error><Code>AccessDenied</Code><Message>Token \(Self.webToken) is not valid</Message></Error></ErrorResponse>", status: 403)
                    : nil
            }
            _ = try Self.chain(r, Self.webEnv, files: Self.webFiles).credentials()
        }
        collect {
            let r = Self.rig { req in req.url.hasPrefix("http://127.0.0.1:4566") ? ok("<Nope>\(Self.secret)</Nope>") : nil }
            _ = try Self.chain(r, Self.webEnv, files: Self.webFiles).credentials()
        }
        // STS throttled until the deadline.
        collect {
            let r = Self.rig { req in
                req.url.hasPrefix("http://127.0.0.1:4566")
                    ? ok("<ErrorResponse><Error><Code>Throttling</Code><Message>\(Self.webToken)</Message></Error></ErrorResponse>", status: 400)
                    : nil
            }
            _ = try Self.chain(r, Self.webEnv, files: Self.webFiles).credentials()
        }
        // Container: 5xx with the token echoed, 403, bad JSON with secrets, bad expiration.
        for (status, body) in [(500, "{\"Message\":\"\(Self.podToken)\"}"), (403, "{\"Code\":\"\(Self.podToken)\"}"),
                               (200, "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"\(Self.secret)\"}"),
                               (200, "not json \(Self.secret)"),
                               (200, Self.containerJSON(expiration: "soon \(Self.secret)"))] {
            collect {
                let r = Self.rig { req in req.url.hasPrefix("http://127.0.0.1:1339") ? text(body, status: status) : nil }
                _ = try Self.chain(r, Self.podEnv, files: Self.podFiles).credentials()
            }
        }
        // Token with a newline (header injection attempt).
        collect {
            _ = try Self.chain(Self.rig(), ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1339/creds",
                                           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "\(Self.podToken)\r\nX-Evil: 1"]).credentials()
        }
        // IMDS role JSON with a failure code and secrets.
        collect {
            let r = Self.rig { req in
                req.url.hasSuffix("eks-node-role") ? text("{\"Code\":\"Failure\",\"SecretAccessKey\":\"\(Self.secret)\"}") : nil
            }
            _ = try Self.chain(r, [:]).credentials()
        }
        // EC2 call whose credentials provider fails.
        collect {
            let clock = FakeClock()
            let r = Self.rig { req in req.url.hasPrefix("http://127.0.0.1:1339") ? text("", status: 500) : nil }
            let chain = Self.chain(r, Self.podEnv, files: Self.podFiles)
            let ec2 = EC2Client(region: "us-west-2", endpoint: "http://127.0.0.1:5000", transport: r.transport,
                                credentials: chain.credentials, clock: clock, random: FixedRandom(0.5),
                                retryPolicy: RetryPolicy(), deadline: Deadline(seconds: 5, clock: clock))
            try ec2.deleteNetworkInterface(id: "eni-1")
        }
        #expect(errors.count == 12)
        for e in errors {
            for s in secrets {
                #expect(!e.description.contains(s), "\(e.description)")
                #expect(!String(describing: e).contains(s), "\(e)")
                #expect(!String(reflecting: e).contains(s), "\(e)")
            }
        }
    }

    @Test("container: RELATIVE_URI wins over FULL_URI, as botocore's ContainerProvider does")
    func relativeWinsOverFull() throws {
        let r = Self.rig { req in req.url == "http://169.254.170.2/v2/credentials/abc" ? text(Self.containerJSON()) : nil }
        let c = Self.chain(r, ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1339/creds"])
        _ = try c.credentials()
        #expect(r.transport.requests.map(\.url) == ["http://169.254.170.2/v2/credentials/abc"])
    }
}
