// Tests of the test EC2 environment itself (Tests/Emulators/ec2env.py through TestSupport's EC2Emulator):
// the IMDSv2 emulator, the fault proxy, the control API and the process lifecycle.  They use only the
// emulator's loopback HTTP client and boto3 (python3 -c), never the product's AWS code.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Testing
import TestSupport

// MARK: helpers

/// Runs python3 with boto3 against `url` (default: the fault proxy).  The prelude defines `client(mode, attempts)`
/// (attempts = total attempts, the first included).
private func boto(_ emu: EC2Emulator, _ code: String, url: String? = nil) throws -> String {
    let prelude = """
    import boto3, json, os, sys, time
    from botocore.config import Config
    def client(mode="standard", attempts=1, url=os.environ["EMU_EC2"]):
        return boto3.client("ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(retries={"mode": mode, "total_max_attempts": attempts}))

    """
    return try Shell.check(
        ["python3", "-c", prelude + code],
        env: [
            "EMU_EC2": url ?? emu.ec2URL, "NO_PROXY": "127.0.0.1", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        ],
        timeout: 120
    ).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func get(_ url: String, token: String? = nil, headers: [String: String] = [:]) throws -> EC2Emulator.HTTPResponse {
    var h = headers
    if let token { h["X-aws-ec2-metadata-token"] = token }
    return try EC2Emulator.http("GET", url, headers: h)
}

private func token(_ imds: String, ttl: String = "300") throws -> String {
    let r = try EC2Emulator.http("PUT", imds + "/latest/api/token", headers: ["X-aws-ec2-metadata-token-ttl-seconds": ttl])
    guard r.status == 200 else { throw EC2EmulatorError("token PUT: \(r.status)") }
    return r.text
}

/// Posts a raw EC2 Query request (unsigned unless `auth`) to the proxy.
private func query(_ emu: EC2Emulator, _ form: String, key: String = "testing") throws -> EC2Emulator.HTTPResponse {
    try EC2Emulator.http(
        "POST", emu.ec2URL + "/",
        headers: [
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": "AWS4-HMAC-SHA256 Credential=\(key)/20250101/us-east-1/ec2/aws4_request, "
                + "SignedHeaders=host;x-amz-date, Signature=0000",
            "X-Amz-Date": "20250101T000000Z",
        ],
        text: form + "&Version=2016-11-15")
}

private func sub(_ d: [String: Any], _ keys: String...) -> Any? {
    var cur: Any? = d
    for k in keys { cur = (cur as? [String: Any])?[k] }
    return cur
}

private let enabled = EC2Emulator.isAvailable || Capabilities.isCI

// MARK: IMDS

@Suite(.serialized, .enabled(if: enabled, "python3 + moto[server] (or CI)"))
struct UnitEmulatorIMDSTests {
    static let env = Result { try EC2Emulator() }

    @Test func tokenFlow() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        let url = emu.imdsURL + "/latest/api/token"
        let ok = try EC2Emulator.http("PUT", url, headers: ["X-aws-ec2-metadata-token-ttl-seconds": "60"])
        #expect(ok.status == 200)
        #expect(ok.header("X-aws-ec2-metadata-token-ttl-seconds") == "60")
        #expect(!ok.text.isEmpty)
        for bad in ["0", "21601", "-1", "abc", ""] {
            let r = try EC2Emulator.http("PUT", url, headers: ["X-aws-ec2-metadata-token-ttl-seconds": bad])
            #expect(r.status == 400, "ttl \(bad)")
        }
        #expect(try EC2Emulator.http("PUT", url).status == 400)
        #expect(try EC2Emulator.http("PUT", url, headers: ["X-aws-ec2-metadata-token-ttl-seconds": "21600"]).status == 200)
        #expect(try EC2Emulator.http("PUT", url, headers: ["X-aws-ec2-metadata-token-ttl-seconds": "1"]).status == 200)
        #expect(try EC2Emulator.http("GET", url).status == 405)
        #expect(try EC2Emulator.http("POST", url, headers: ["X-aws-ec2-metadata-token-ttl-seconds": "60"]).status == 405)
        #expect(try EC2Emulator.http("PUT", url, headers: [
            "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4",
        ]).status == 403)
        let md = emu.imdsURL + "/latest/meta-data/instance-id"
        #expect(try get(md).status == 401)
        #expect(try get(md, token: "not-a-token").status == 401)
        let r = try get(md, token: ok.text)
        #expect(r.status == 200)
        #expect(r.text.hasPrefix("i-"))
        #expect(try EC2Emulator.http("POST", md, headers: ["X-aws-ec2-metadata-token": ok.text]).status == 405)
    }

    @Test func metadataMatchesScenario() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario()
        let t = try token(emu.imdsURL)
        let base = emu.imdsURL + "/latest/meta-data/"
        func md(_ k: String) throws -> String {
            let r = try get(base + k, token: t)
            guard r.status == 200 else { throw EC2EmulatorError("\(k): \(r.status)") }
            return r.text
        }
        let node = try #require(sub(world, "instances", "node1") as? [String: Any])
        let enis = try #require(node["enis"] as? [String: [String: Any]])
        #expect(try md("instance-id") == node["id"] as? String)
        #expect(try md("instance-type") == "m5.large")
        #expect(try md("local-ipv4") == node["privateIp"] as? String)
        #expect(try md("mac") == node["mac"] as? String)
        #expect(try md("placement/availability-zone") == "us-east-1a")
        #expect(try md("placement/region") == "us-east-1")
        let top = try md("").split(separator: "\n").map(String.init)
        #expect(top.contains("network/") && top.contains("instance-id") && top.contains("iam/"))
        let macs = try md("network/interfaces/macs/").split(separator: "\n").map(String.init)
        let want = ["primary", "multus", "untagged"].map { (enis[$0]?["mac"] as? String ?? "?") + "/" }
        #expect(macs == want)
        let multus = try #require(enis["multus"])
        let mac = try #require(multus["mac"] as? String)
        let p = "network/interfaces/macs/\(mac)/"
        #expect(try md(p + "device-number") == "1")
        #expect(try md(p + "interface-id") == multus["id"] as? String)
        #expect(try md(p + "subnet-id") == multus["subnetId"] as? String)
        #expect(try md(p + "subnet-ipv4-cidr-block") == "10.0.100.0/24")
        #expect(try md(p + "vpc-ipv4-cidr-blocks") == "10.0.0.0/16")
        #expect(try md(p + "vpc-id") == sub(world, "vpc", "id") as? String)
        #expect(try md(p + "local-ipv4s") == multus["privateIp"] as? String)
        #expect(try md(p + "subnet-ipv6-cidr-blocks") == sub(world, "subnets", "multus-us-east-1a", "ipv6Cidr") as? String)
        // moto adds the instance's groups to an ENI it attaches: IMDS shows what moto holds.
        let sgs = try md(p + "security-group-ids").split(separator: "\n").map(String.init)
        #expect(sgs.contains(try #require(sub(world, "securityGroups", "multus") as? String)))
        #expect(try emu.enis()[try #require(multus["id"] as? String)]?.tags["node.k8s.amazonaws.com/no_manage"] == "true")
        #expect(try md(p + "network-card") == "0")
        #expect(try get(base + p + "ipv6s", token: t).status == 404)        // none yet
        #expect(try get(base + p + "ipv4-prefix", token: t).status == 404)  // moto assigns no prefixes
        #expect(try get(base + "no-such-key", token: t).status == 404)
        #expect(try get(base + "network/interfaces/macs/02:00:00:00:00:00/mac", token: t).status == 404)
        let listing = try md(p).split(separator: "\n").map(String.init)
        for k in ["device-number", "interface-id", "subnet-id", "local-ipv4s", "vpc-ipv4-cidr-blocks"] {
            #expect(listing.contains(k))
        }
        #expect(try md("iam/security-credentials/") == "eni-multus-node")
        let creds = try JSONSerialization.jsonObject(with: Data(try md("iam/security-credentials/eni-multus-node").utf8))
        let c = try #require(creds as? [String: String])
        for k in ["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
            #expect(c[k] != nil, "\(k)")
        }
        #expect(c["Code"] == "Success")
        let doc = try JSONSerialization.jsonObject(with: Data(
            try get(emu.imdsURL + "/latest/dynamic/instance-identity/document", token: t).body)) as? [String: Any]
        #expect(doc?["region"] as? String == "us-east-1")
    }

    @Test func liveAfterAssignThroughBoto3() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario()
        let multus = try #require(sub(world, "enis", "multus") as? [String: Any])
        let eni = try #require(multus["id"] as? String)
        let mac = try #require(multus["mac"] as? String)
        _ = try boto(emu, """
        c = client()
        c.assign_private_ip_addresses(NetworkInterfaceId="\(eni)", PrivateIpAddresses=["10.0.100.50", "10.0.100.51"])
        c.assign_ipv6_addresses(NetworkInterfaceId="\(eni)", Ipv6AddressCount=1)
        """)
        let t = try token(emu.imdsURL)
        let p = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(mac)/"
        let v4 = try get(p + "local-ipv4s", token: t).text.split(separator: "\n").map(String.init)
        #expect(v4.first == multus["privateIp"] as? String)
        #expect(Set(v4.dropFirst()) == ["10.0.100.50", "10.0.100.51"])
        let state = try #require(try emu.enis()[eni])
        #expect(state.privateIps == v4)
        let v6 = try get(p + "ipv6s", token: t).text.split(separator: "\n").map(String.init)
        #expect(v6.count == 1)
        #expect(v6 == state.ipv6s)
        // Unassign: gone from IMDS too.
        _ = try boto(emu, """
        client().unassign_private_ip_addresses(NetworkInterfaceId="\(eni)", PrivateIpAddresses=["10.0.100.50"])
        """)
        #expect(!(try get(p + "local-ipv4s", token: t).text.contains("10.0.100.50")))
    }

    @Test func propagationLag() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario()
        let multus = try #require(sub(world, "enis", "multus") as? [String: Any])
        let eni = try #require(multus["id"] as? String)
        let mac = try #require(multus["mac"] as? String)
        try emu.imds(["lagMs": 2500])
        let t = try token(emu.imdsURL)
        let url = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(mac)/local-ipv4s"
        #expect(try get(url, token: t).text == multus["privateIp"] as? String)  // existing: visible at once
        let before = Date()
        _ = try boto(emu, "client().assign_private_ip_addresses(NetworkInterfaceId='\(eni)', PrivateIpAddresses=['10.0.100.60'])")
        #expect(try emu.enis()[eni]?.privateIps.contains("10.0.100.60") == true)  // moto has it at once
        let early = try get(url, token: t).text
        if Date().timeIntervalSince(before) < 2.0 { #expect(!early.contains("10.0.100.60")) }
        #expect(waitUntil(timeout: 6) { (try? get(url, token: t).text.contains("10.0.100.60")) == true })
        #expect(Date().timeIntervalSince(before) >= 2.45)
        // Removal lags too: still listed right after the unassign.
        let before2 = Date()
        _ = try boto(emu, "client().unassign_private_ip_addresses(NetworkInterfaceId='\(eni)', PrivateIpAddresses=['10.0.100.60'])")
        #expect(try emu.enis()[eni]?.privateIps.contains("10.0.100.60") == false)
        let stale = try get(url, token: t).text
        if Date().timeIntervalSince(before2) < 2.0 { #expect(stale.contains("10.0.100.60")) }
        #expect(waitUntil(timeout: 6) { (try? get(url, token: t).text.contains("10.0.100.60")) == false })
        try emu.imds(["lagMs": 0])
    }

    @Test func tokenExpiryFailuresAndOptionalMode() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        let md = emu.imdsURL + "/latest/meta-data/instance-id"
        // expireTokens invalidates every issued token.
        var t = try token(emu.imdsURL)
        #expect(try get(md, token: t).status == 200)
        try emu.imds(["expireTokens": true])
        #expect(try get(md, token: t).status == 401)
        // maxTokenTtl caps lifetimes.
        try emu.imds(["maxTokenTtl": 1])
        t = try token(emu.imdsURL, ttl: "21600")
        #expect(try get(md, token: t).status == 200)
        usleep(1_200_000)
        #expect(try get(md, token: t).status == 401)
        try emu.imds(["maxTokenTtl": NSNull()])
        // 5xx on the next N requests (token PUTs included).
        try emu.imds(["fail": 2, "failStatus": 503])
        #expect(try EC2Emulator.http("PUT", emu.imdsURL + "/latest/api/token",
                                     headers: ["X-aws-ec2-metadata-token-ttl-seconds": "60"]).status == 503)
        #expect(try get(md).status == 503)
        t = try token(emu.imdsURL)
        #expect(try get(md, token: t).status == 200)
        // IMDSv1 "optional": no token is fine, a bad one is still 401.
        try emu.imds(["httpTokens": "optional"])
        #expect(try get(md).status == 200)
        #expect(try get(md, token: "bogus").status == 401)
        try emu.imds(["httpTokens": "required"])
        #expect(try get(md).status == 401)
    }

    @Test func oneIMDSPerInstance() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario([
            "instances": [
                ["name": "a", "enis": [["name": "ma", "deviceIndex": 1, "tags": ["node.k8s.amazonaws.com/no_manage": "true"]]]],
                ["name": "b", "subnet": "nodes-us-east-1b",
                 "enis": [["name": "mb", "subnet": "multus-us-east-1a", "deviceIndex": 1]]],
            ],
        ])
        let a = try #require(sub(world, "instances", "a") as? [String: Any])
        let b = try #require(sub(world, "instances", "b") as? [String: Any])
        #expect(a["imds"] as? String == emu.imdsURL)
        let bURL = try #require(b["imds"] as? String)
        #expect(bURL != emu.imdsURL)
        let tb = try token(bURL)
        #expect(try get(bURL + "/latest/meta-data/instance-id", token: tb).text == b["id"] as? String)
        #expect(try get(bURL + "/latest/meta-data/placement/availability-zone", token: tb).text == "us-east-1b")
        // A further IMDS on demand.
        let extra = try emu.newIMDS(instance: try #require(a["id"] as? String))
        let tx = try token(extra)
        #expect(try get(extra + "/latest/meta-data/instance-id", token: tx).text == a["id"] as? String)
    }
}

// MARK: fault proxy and control API

@Suite(.serialized, .enabled(if: enabled, "python3 + moto[server] (or CI)"))
struct UnitEmulatorProxyTests {
    static let env = Result { try EC2Emulator() }

    @Test func countsPerActionAndReset() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        try emu.resetCounts()
        _ = try boto(emu, """
        c = client()
        c.describe_vpcs(); c.describe_vpcs(); c.describe_subnets()
        """)
        #expect(try emu.counts() == ["DescribeVpcs": 2, "DescribeSubnets": 1])
        let reqs = try emu.requests(action: "DescribeSubnets")
        #expect(reqs.count == 1)
        #expect(reqs.first?["service"] as? String == "ec2")
        #expect(reqs.first?["region"] as? String == "us-east-1")
        #expect(reqs.first?["accessKeyId"] as? String == "testing")
        try emu.resetCounts()
        #expect(try emu.counts().isEmpty)
    }

    @Test func throttleEverySecondCallAndBoto3StandardRetrySurvives() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        try emu.resetCounts()
        try emu.fault(action: "DescribeVpcs", mode: "throttle", every: 2)
        let statuses = try (0..<4).map { _ in try query(emu, "Action=DescribeVpcs") }
        #expect(statuses.map(\.status) == [200, 503, 200, 503])
        #expect(statuses[1].text.contains("<Code>RequestLimitExceeded</Code>"))
        #expect(statuses[1].text.contains("<Message>Request limit exceeded.</Message>"))
        #expect(statuses[1].text.contains("<RequestID>"))
        #expect(try query(emu, "Action=DescribeSubnets").status == 200)  // other actions untouched
        try emu.resetCounts()
        let out = try boto(emu, """
        c = client(attempts=5)
        for _ in range(3): c.describe_vpcs()
        try:
            client(attempts=1).describe_vpcs(); client(attempts=1).describe_vpcs()
            print("no-error")
        except Exception as e:
            print(e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        """)
        #expect(out == "RequestLimitExceeded 503")
        #expect((try emu.counts()["DescribeVpcs"] ?? 0) >= 5)  // the retries went through the proxy
        try emu.clearFaults()
    }

    @Test func nextNInternalErrors() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        try emu.fault(action: nil, mode: "error500", count: 2)
        let r1 = try query(emu, "Action=DescribeVpcs")
        let r2 = try query(emu, "Action=DescribeSubnets")
        #expect(r1.status == 500 && r2.status == 500)
        #expect(r1.text.contains("<Code>InternalError</Code>"))
        #expect(try query(emu, "Action=DescribeVpcs").status == 200)
        // A custom AWS error, e.g. for the installer's "attach fails" path.
        try emu.fault(action: "AttachNetworkInterface", mode: "error", count: 1, status: 400, code: "AttachmentLimitExceeded",
                      message: "Interface count 4 exceeds the limit for m5.large")
        let out = try boto(emu, """
        try:
            client().attach_network_interface(NetworkInterfaceId="eni-x", InstanceId="i-x", DeviceIndex=3)
        except Exception as e:
            print(e.response["Error"]["Code"])
        """)
        #expect(out == "AttachmentLimitExceeded")
        try emu.clearFaults()
    }

    @Test func droppedConnectionsAndDelay() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario()
        let eni = try #require(sub(world, "enis", "multus", "id") as? String)
        try emu.fault(action: "DescribeVpcs", mode: "drop", count: 1)
        #expect(throws: EC2EmulatorError.self) { try query(emu, "Action=DescribeVpcs") }
        #expect(try query(emu, "Action=DescribeVpcs").status == 200)
        try emu.fault(action: "DescribeVpcs", mode: "reset", count: 1)
        #expect(throws: EC2EmulatorError.self) { try query(emu, "Action=DescribeVpcs") }
        // drop-after: moto applies the call, the client never hears back.
        try emu.fault(action: "AssignPrivateIpAddresses", mode: "drop-after", count: 1)
        #expect(throws: EC2EmulatorError.self) {
            try query(emu, "Action=AssignPrivateIpAddresses&NetworkInterfaceId=\(eni)&PrivateIpAddress.1=10.0.100.77")
        }
        #expect(try emu.enis()[eni]?.privateIps.contains("10.0.100.77") == true)
        // delay
        try emu.fault(action: "DescribeSubnets", mode: "delay", count: 1, delayMs: 400)
        let t0 = Date()
        #expect(try query(emu, "Action=DescribeSubnets").status == 200)
        #expect(Date().timeIntervalSince(t0) >= 0.39)
        let t1 = Date()
        #expect(try query(emu, "Action=DescribeSubnets").status == 200)
        #expect(Date().timeIntervalSince(t1) < 0.39)
        let rules = try #require(try emu.control("GET", "/_emulator/faults") as? [[String: Any]])
        #expect(rules.allSatisfy { ($0["fired"] as? Int) == 1 })
        try emu.clearFaults()
    }

    @Test func signatureVerification() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        try emu.sigv4(verify: true)
        defer { try? emu.sigv4(verify: false) }
        // botocore-signed: passes.
        #expect(try boto(emu, "print(len(client().describe_vpcs()['Vpcs']) > 0)") == "True")
        // Signed by botocore, then tampered with (body changed after signing): 403 SignatureDoesNotMatch.
        let out = try boto(emu, """
        import http.client, urllib.parse
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        u = urllib.parse.urlsplit(os.environ["EMU_EC2"])
        def send(body, secret="testing", tamper=None):
            r = AWSRequest(method="POST", url=os.environ["EMU_EC2"] + "/", data=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
            SigV4Auth(Credentials("testing", secret), "ec2", "us-east-1").add_auth(r)
            h = dict(r.headers.items())
            c = http.client.HTTPConnection(u.hostname, u.port)
            c.request("POST", "/", body=tamper or body, headers=h)
            resp = c.getresponse(); data = resp.read().decode()
            code = data.split("<Code>")[1].split("</Code>")[0] if "<Code>" in data else "-"
            return f"{resp.status}:{code}"
        print(send("Action=DescribeVpcs&Version=2016-11-15"),
              send("Action=DescribeVpcs&Version=2016-11-15", tamper="Action=DescribeSubnets&Version=2016-11-15"),
              send("Action=DescribeVpcs&Version=2016-11-15", secret="wrong"))
        """)
        #expect(out == "200:- 403:SignatureDoesNotMatch 403:SignatureDoesNotMatch")
        // Unsigned: 403 MissingAuthenticationToken; the fake signature of `query` (known key): 403.
        let unsigned = try EC2Emulator.http("POST", emu.ec2URL + "/", text: "Action=DescribeVpcs&Version=2016-11-15")
        #expect(unsigned.status == 403 && unsigned.text.contains("MissingAuthenticationToken"))
        #expect(try query(emu, "Action=DescribeVpcs").status == 403)
        let unknown = try query(emu, "Action=DescribeVpcs", key: "AKIAUNKNOWN")
        #expect(unknown.status == 401 && unknown.text.contains("AuthFailure"))
        let sig = try emu.requests(action: "DescribeVpcs").compactMap { $0["signature"] as? String }
        #expect(sig.contains("valid") && sig.contains { $0.hasPrefix("invalid") })
    }

    @Test func credentialSourcesAreKnownToTheSignatureChecker() throws {
        let emu = try Self.env.get()
        try emu.scenario()
        try emu.sigv4(verify: true)
        defer { try? emu.sigv4(verify: false) }
        // IMDS role credentials and container (Pod Identity-style) credentials.
        let t = try token(emu.imdsURL)
        let role = try get(emu.imdsURL + "/latest/meta-data/iam/security-credentials/eni-multus-node", token: t)
        let rc = try #require(try JSONSerialization.jsonObject(with: Data(role.body)) as? [String: String])
        #expect(try get(emu.imdsURL + "/v1/credentials").status == 401)
        let cr = try get(emu.imdsURL + "/v1/credentials", headers: ["Authorization": "emulator-pod-identity-token"])
        let cc = try #require(try JSONSerialization.jsonObject(with: Data(cr.body)) as? [String: String])
        let out = try boto(emu, """
        def ec2(ak, sk, tok):
            return boto3.client("ec2", region_name="us-east-1", endpoint_url=os.environ["EMU_EC2"],
                aws_access_key_id=ak, aws_secret_access_key=sk, aws_session_token=tok,
                config=Config(retries={"total_max_attempts": 1}))
        ec2("\(rc["AccessKeyId"] ?? "")", "\(rc["SecretAccessKey"] ?? "")", "\(rc["Token"] ?? "")").describe_vpcs()
        ec2("\(cc["AccessKeyId"] ?? "")", "\(cc["SecretAccessKey"] ?? "")", "\(cc["Token"] ?? "")").describe_vpcs()
        # Web identity through the proxy (unsigned, as AWS allows), then EC2 with what STS returned.
        sts = boto3.client("sts", region_name="us-east-1", endpoint_url=os.environ["EMU_EC2"],
            aws_access_key_id="x", aws_secret_access_key="x")
        c = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/eni-multus",
            RoleSessionName="node1", WebIdentityToken="header.payload.signature")["Credentials"]
        ec2(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]).describe_vpcs()
        try:
            ec2(c["AccessKeyId"], "wrong", c["SessionToken"]).describe_vpcs(); print("accepted")
        except Exception as e:
            print(e.response["Error"]["Code"])
        """)
        #expect(out == "SignatureDoesNotMatch")
        let sigs = try emu.requests().map { "\($0["action"] ?? "")=\($0["signature"] ?? "")" }
        #expect(sigs.contains("AssumeRoleWithWebIdentity=unsigned-allowed"))
        #expect(sigs.filter { $0 == "DescribeVpcs=valid" }.count == 3)
    }

    @Test func resetAndScenarioAreIdempotent() throws {
        let emu = try Self.env.get()
        let a = try emu.scenario()
        try emu.fault(mode: "throttle")
        _ = try query(emu, "Action=DescribeVpcs")
        let b = try emu.scenario()
        let ja = try JSONSerialization.data(withJSONObject: a, options: [.sortedKeys])
        let jb = try JSONSerialization.data(withJSONObject: b, options: [.sortedKeys])
        #expect(ja == jb)  // same ids, MACs, IPs
        #expect(try emu.counts().isEmpty)  // scenario resets counts and faults
        #expect(try query(emu, "Action=DescribeVpcs").status == 200)
        try emu.reset()
        #expect(try emu.enis().isEmpty)
        let c = try emu.scenario(["seed": 7])
        #expect(sub(c, "enis", "multus", "id") as? String != sub(a, "enis", "multus", "id") as? String)
    }
}

// MARK: lifecycle

@Suite(.enabled(if: enabled, "python3 + moto[server] (or CI)"))
struct UnitEmulatorLifecycleTests {
    @Test func exitsWhenItsStdinPipeCloses() throws {
        let emu = try EC2Emulator()
        // Start-up is reported for the closing note; generous bound for loaded CI machines.
        #expect(emu.startupSeconds < 15, "start-up \(emu.startupSeconds)s")
        print("ec2env start-up: \(String(format: "%.2f", emu.startupSeconds)) s")
        #expect(try EC2Emulator.http("GET", emu.controlURL + "/_emulator/health").status == 200)
        #expect(emu.closeStdinAndWait(timeout: 5))
        #expect(kill(emu.pid, 0) != 0)
        #expect(throws: EC2EmulatorError.self) { try EC2Emulator.http("GET", emu.controlURL + "/_emulator/health") }
    }

    @Test func stopTerminates() throws {
        let emu = try EC2Emulator(arguments: ["--http-tokens", "optional", "--scenario", "{}"])
        #expect(try get(emu.imdsURL + "/latest/meta-data/instance-type").text == "m5.large")
        emu.stop()
        #expect(kill(emu.pid, 0) != 0)
        emu.stop()  // idempotent
    }
}
