import Testing
@testable import AWS

/// A small IMDSv2 model: tokens with TTLs on the fake clock, 401 without a valid token, 404 for absent keys.
final class FakeIMDS {
    let clock: FakeClock
    var data: [String: String]
    var tokens: [String: Double] = [:]  // token → expiry (monotonic)
    var issued = 0
    var ttlSeen: [String] = []
    var tokenStatus = 200
    /// Statuses to answer the next GETs with before behaving normally.
    var failNextGets: [Int] = []
    lazy var transport = FakeTransport { [unowned self] req, _ in self.handle(req) }

    init(clock: FakeClock, data: [String: String]) {
        self.clock = clock
        self.data = data
    }

    func handle(_ req: HTTPRequest) -> Result<HTTPResponse, TransportError> {
        let prefix = "http://127.0.0.1:1338"
        guard req.url.hasPrefix(prefix) else { return .failure(.connect("wrong endpoint \(req.url)")) }
        let path = String(req.url.dropFirst(prefix.count))
        let header = { (n: String) in req.headers.first { $0.name.lowercased() == n }?.value }
        if path == "/latest/api/token" {
            guard req.method == "PUT" else { return text("", status: 405) }
            guard tokenStatus == 200 else { return text("", status: tokenStatus) }
            guard let ttlText = header("x-aws-ec2-metadata-token-ttl-seconds"), let ttl = Double(ttlText),
                ttl >= 1, ttl <= 21600
            else { return text("", status: 400) }
            ttlSeen.append(ttlText)
            issued += 1
            let token = "token-\(issued)"
            tokens[token] = clock.monotonic() + ttl
            return text(token, headers: [("x-aws-ec2-metadata-token-ttl-seconds", ttlText)])
        }
        guard req.method == "GET" else { return text("", status: 405) }
        if !failNextGets.isEmpty { return text("", status: failNextGets.removeFirst()) }
        guard let t = header("x-aws-ec2-metadata-token"), let exp = tokens[t], clock.monotonic() < exp else {
            return text("", status: 401)
        }
        guard path.hasPrefix("/latest/"), let v = data[String(path.dropFirst("/latest/".count))] else {
            return text("", status: 404)
        }
        return text(v)
    }

    static let mac = "0a:1b:2c:3d:4e:5f"
    static let standard: [String: String] = [
        "meta-data/instance-id": "i-1234567890abcdef0",
        "meta-data/instance-type": "m5.large",
        "meta-data/placement/availability-zone": "us-west-2a",
        "meta-data/placement/region": "us-west-2",
        "meta-data/network/interfaces/macs/": "02:dd:2c:5e:01:69/\n0A:1B:2C:3D:4E:5F/",
        "meta-data/network/interfaces/macs/\(mac)/interface-id": "eni-0a1b2c3d4e5f60718",
        "meta-data/network/interfaces/macs/\(mac)/device-number": "1",
        "meta-data/network/interfaces/macs/\(mac)/network-card": "0",
        "meta-data/network/interfaces/macs/\(mac)/subnet-id": "subnet-9d4a7b6c",
        "meta-data/network/interfaces/macs/\(mac)/subnet-ipv4-cidr-block": "10.0.2.0/24",
        "meta-data/network/interfaces/macs/\(mac)/subnet-ipv6-cidr-blocks": "2001:db8:1234:1a00::/64",
        "meta-data/network/interfaces/macs/\(mac)/vpc-id": "vpc-cc3c87a5",
        "meta-data/network/interfaces/macs/\(mac)/local-ipv4s": "10.0.2.10\n10.0.2.11\n",
        "meta-data/network/interfaces/macs/\(mac)/ipv6s": "2001:db8:1234:1a00::123",
        "meta-data/network/interfaces/macs/\(mac)/ipv4-prefix": "10.0.3.16/28",
        "meta-data/network/interfaces/macs/\(mac)/security-group-ids": "sg-903004f8\nsg-1a2b3c4d",
        // A second ENI with the minimum: no network-card, no IPv6, no prefixes.
        "meta-data/network/interfaces/macs/02:dd:2c:5e:01:69/interface-id": "eni-12345678",
        "meta-data/network/interfaces/macs/02:dd:2c:5e:01:69/device-number": "0",
        "meta-data/network/interfaces/macs/02:dd:2c:5e:01:69/local-ipv4s": "192.168.1.88",
    ]
}

@Suite struct UnitIMDSTests {
    func client(_ imds: FakeIMDS, deadline: Double = 10, ttl: Int = IMDSClient.defaultTokenTTL) -> IMDSClient {
        IMDSClient(endpoint: "http://127.0.0.1:1338/", transport: imds.transport, clock: imds.clock,
                   deadline: Deadline(seconds: deadline, clock: imds.clock), tokenTTL: ttl)
    }

    @Test("typed accessors over one token; TTL header 21600 by default")
    func accessors() throws {
        let imds = FakeIMDS(clock: FakeClock(), data: FakeIMDS.standard)
        let c = client(imds)
        #expect(try c.instanceID() == "i-1234567890abcdef0")
        #expect(try c.instanceType() == "m5.large")
        #expect(try c.availabilityZone() == "us-west-2a")
        #expect(try c.region() == "us-west-2")
        #expect(try c.macs() == ["02:dd:2c:5e:01:69", FakeIMDS.mac])
        #expect(imds.issued == 1)
        #expect(imds.ttlSeen == ["21600"])
        #expect(c.tokenRequests == 1)
        let put = try #require(imds.transport.requests.first)
        #expect(put.method == "PUT")
        #expect(put.url == "http://127.0.0.1:1338/latest/api/token")
        #expect(put.timeout == 1)
        #expect(imds.transport.requests.dropFirst().allSatisfy {
            $0.method == "GET" && $0.headers.contains { $0.name == "X-aws-ec2-metadata-token" && $0.value == "token-1" }
        })
    }

    @Test("per-MAC ENI metadata: lists split on newlines, absent keys empty, MAC case-insensitive")
    func eniMetadata() throws {
        let imds = FakeIMDS(clock: FakeClock(), data: FakeIMDS.standard)
        let c = client(imds)
        let e = try #require(try c.eni(mac: "0A:1B:2C:3D:4E:5F"))
        #expect(e == ENIMetadata(
            mac: FakeIMDS.mac, interfaceID: "eni-0a1b2c3d4e5f60718", deviceNumber: 1, networkCard: 0,
            subnetID: "subnet-9d4a7b6c", subnetIPv4CIDR: "10.0.2.0/24", subnetIPv6CIDRs: ["2001:db8:1234:1a00::/64"],
            vpcID: "vpc-cc3c87a5", localIPv4s: ["10.0.2.10", "10.0.2.11"], ipv6s: ["2001:db8:1234:1a00::123"],
            ipv4Prefixes: ["10.0.3.16/28"], ipv6Prefixes: [], securityGroupIDs: ["sg-903004f8", "sg-1a2b3c4d"]))
        let p = try #require(try c.eni(mac: "02:dd:2c:5e:01:69"))
        #expect(p.deviceNumber == 0)
        #expect(p.networkCard == 0)
        #expect(p.ipv6s.isEmpty)
        #expect(p.subnetID == nil)
        #expect(try c.eni(mac: "02:00:00:00:00:99") == nil)
        #expect(try c.localIPv4s(mac: FakeIMDS.mac) == ["10.0.2.10", "10.0.2.11"])
        #expect(try c.ipv6s(mac: "02:dd:2c:5e:01:69") == [])
    }

    @Test("404 → nil / empty; a required key that is absent is an error")
    func absent() throws {
        var data = FakeIMDS.standard
        data["meta-data/placement/region"] = nil
        let imds = FakeIMDS(clock: FakeClock(), data: data)
        let c = client(imds)
        #expect(try c.metadata("nothing/here") == nil)
        #expect(try c.metadataList("nothing/here") == [])
        #expect(try c.region() == "us-west-2")  // derived from the AZ
        imds.data["meta-data/instance-id"] = nil
        #expect(throws: AWSError.imds("meta-data/instance-id is absent")) { try c.instanceID() }
    }

    @Test("the token is reused until shortly before it expires, then renewed")
    func tokenReuse() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = client(imds, deadline: 1000, ttl: 300)
        _ = try c.instanceID()
        clock.advance(200)
        _ = try c.instanceID()
        #expect(imds.issued == 1)
        clock.advance(45)  // 245 s: within 60 s of the 300 s expiry
        _ = try c.instanceID()
        #expect(imds.issued == 2)
        #expect(imds.ttlSeen == ["300", "300"])
        // No 401 was ever needed.
        #expect(c.getRequests == 3)
    }

    @Test("a 401 (token expired or revoked on the IMDS side) gets one fresh token and one retry")
    func retryOn401() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = client(imds)
        _ = try c.instanceID()
        imds.tokens.removeAll()  // IMDS forgot the token
        #expect(try c.instanceType() == "m5.large")
        #expect(imds.issued == 2)
        // A persistent 401 is not retried forever.
        imds.failNextGets = [401, 401, 401]
        #expect(throws: AWSError.imds("GET meta-data/instance-id: HTTP 401")) { try c.instanceID() }
        #expect(imds.failNextGets == [401])
    }

    @Test("AWS_EC2_METADATA_DISABLED=true: no request at all")
    func disabled() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = IMDSClient.fromEnvironment(
            ["AWS_EC2_METADATA_DISABLED": "TRUE", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338"],
            transport: imds.transport, clock: clock, deadline: Deadline(seconds: 5, clock: clock))
        #expect(c.disabled)
        #expect(throws: AWSError.imds("disabled by AWS_EC2_METADATA_DISABLED")) { try c.instanceID() }
        #expect(imds.transport.requests.isEmpty)
        let on = IMDSClient.fromEnvironment(["AWS_EC2_METADATA_DISABLED": "false"], transport: imds.transport,
                                            clock: clock, deadline: Deadline(seconds: 5, clock: clock))
        #expect(!on.disabled)
        #expect(on.endpoint == "http://169.254.169.254")
        let v6 = IMDSClient.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"],
                                            transport: imds.transport, clock: clock,
                                            deadline: Deadline(seconds: 5, clock: clock))
        #expect(v6.endpoint == "http://[fd00:ec2::254]")
    }

    @Test("AWS_METADATA_SERVICE_TIMEOUT and AWS_METADATA_SERVICE_NUM_ATTEMPTS are honoured, as the SDKs do")
    func timeoutAndAttemptsFromEnvironment() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let d = Deadline(seconds: 60, clock: clock)
        let c = IMDSClient.fromEnvironment(["AWS_METADATA_SERVICE_TIMEOUT": "7.5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "1",
                                            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338"],
                                           transport: imds.transport, clock: clock, deadline: d)
        #expect(c.callTimeout == 7.5 && c.maxAttempts == 1)
        _ = try c.instanceID()
        #expect(imds.transport.requests.allSatisfy { $0.timeout == 7.5 })
        let bad = IMDSClient.fromEnvironment(["AWS_METADATA_SERVICE_TIMEOUT": "-1", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "x"],
                                             transport: imds.transport, clock: clock, deadline: d)
        #expect(bad.callTimeout == IMDSClient.defaultCallTimeout && bad.maxAttempts == IMDSClient.defaultMaxAttempts)
    }

    @Test("AWS_EC2_METADATA_SERVICE_ENDPOINT is honoured")
    func endpointFromEnvironment() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = IMDSClient.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338/"],
                                           transport: imds.transport, clock: clock,
                                           deadline: Deadline(seconds: 5, clock: clock))
        #expect(try c.instanceID() == "i-1234567890abcdef0")
    }

    @Test("token PUT refused: 403 says IMDS is disabled for the instance; no IMDSv1 fallback")
    func tokenForbidden() {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        imds.tokenStatus = 403
        let c = client(imds)
        do throws(AWSError) {
            _ = try c.instanceID()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("403"))
        }
        #expect(imds.transport.requests.allSatisfy { $0.method == "PUT" })
    }

    @Test("5xx and connection failures are retried; timeouts are not")
    func transient() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = client(imds)
        imds.failNextGets = [500, 503]
        #expect(try c.instanceID() == "i-1234567890abcdef0")
        #expect(c.getRequests == 3)
        #expect(clock.sleeps == [0.05, 0.1])

        var calls = 0
        let t = FakeTransport { _, _ in
            calls += 1
            return .failure(.timeout("1 s"))
        }
        let dead = IMDSClient(endpoint: "http://127.0.0.1:1338", transport: t, clock: clock,
                              deadline: Deadline(seconds: 10, clock: clock))
        #expect(throws: AWSError.self) { try dead.instanceID() }
        #expect(calls == 1)
        // A metadata service that does not answer is a reason to try again later (CNI code 11), not a refusal.
        do { _ = try dead.instanceID(); Issue.record("no error") } catch {
            guard case .imdsUnavailable = error else { Issue.record("\(error)"); return }
            #expect(error.isTryAgainLater)
        }
        imds.failNextGets = [500, 500, 500]
        do { _ = try c.instanceType(); Issue.record("no error") } catch {
            guard case .imdsUnavailable = error else { Issue.record("\(error)"); return }
            #expect(error.isTryAgainLater)
        }
    }

    @Test("each call's timeout is 1 s, or less when the deadline is nearer")
    func timeoutBoundedByDeadline() throws {
        let clock = FakeClock()
        let imds = FakeIMDS(clock: clock, data: FakeIMDS.standard)
        let c = client(imds, deadline: 0.5)
        _ = try c.instanceID()
        #expect(imds.transport.requests.map(\.timeout) == [0.5, 0.5])
        clock.advance(1)
        #expect(throws: AWSError.self) { try c.instanceType() }
        #expect(imds.transport.requests.count == 2)
    }
}
