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
        #expect(try get(base + p + "ipv4-prefix", token: t).status == 404)  // no prefixes yet
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
        // (A lower bound only: load can lengthen a call, never shorten it. That the second call is not delayed is
        // shown by the rule having fired once, not by a clock.)
        try emu.fault(action: "DescribeSubnets", mode: "delay", count: 1, delayMs: 400)
        let t0 = Date()
        #expect(try query(emu, "Action=DescribeSubnets").status == 200)
        #expect(Date().timeIntervalSince(t0) >= 0.39)
        #expect(try query(emu, "Action=DescribeSubnets").status == 200)
        let rules = try #require(try emu.control("GET", "/_emulator/faults") as? [[String: Any]])
        #expect(rules.count == 4)
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

    /// AWS's request-rate throttling (POST /_emulator/throttle): off by default; with AWS's bucket sizes scaled by
    /// 0.03 the Assign bucket holds 3 tokens refilled at 0.15/s, so a 4th call within ~6.6 s finds it empty.
    @Test func requestThrottlingTokenBucketPerAction() throws {
        let emu = try Self.env.get()
        let world = try emu.scenario()
        let eni = try #require(sub(world, "enis", "multus", "id") as? String)
        let off = try #require(try emu.control("GET", "/_emulator/throttle") as? [String: Any])
        #expect(off["enabled"] as? Bool == false)
        try emu.control("POST", "/_emulator/throttle", json: ["enabled": true, "scale": 0.03])
        let before = try #require(try emu.enis()[eni]).privateIps.count
        let assign = "Action=AssignPrivateIpAddresses&NetworkInterfaceId=\(eni)&SecondaryPrivateIpAddressCount=1"
        let r = try (0..<4).map { _ in try query(emu, assign) }
        #expect(r.map(\.status) == [200, 200, 200, 503])
        #expect(errorCode(r[3]) == "RequestLimitExceeded")
        #expect(r[3].text.contains("<Message>Request limit exceeded.</Message>"))
        #expect(try emu.enis()[eni]?.privateIps.count == before + 3)  // the refused call reached nothing
        #expect(try query(emu, "Action=DescribeVpcs").status == 200)  // no bucket for it: unlimited
        #expect(try emu.counts()["AssignPrivateIpAddresses"] == 4)  // counted like any call
        let log = try emu.requests(action: "AssignPrivateIpAddresses")
        #expect(log.map { $0["throttled"] as? Bool } == [false, false, false, true])
        #expect(log.map { $0["status"] as? Int } == [200, 200, 200, 503])
        let on = try #require(try emu.control("GET", "/_emulator/throttle") as? [String: Any])
        #expect(on["throttled"] as? [String: Int] == ["AssignPrivateIpAddresses": 1])
        let buckets = try #require(on["buckets"] as? [String: [String: Double]])
        #expect(buckets["AssignPrivateIpAddresses"]?["size"] == 3)
        #expect(buckets["DescribeNetworkInterfaces#unfiltered"]?["size"] == 1.5)  // 50 vs 100 with a filter
        // Other actions share nothing with Assign's bucket; switching off lets the next call through.
        let last = try #require(try emu.enis()[eni]?.privateIps.last)
        #expect(try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", eni), ("PrivateIpAddress.1", last)]).status == 200)
        try emu.control("POST", "/_emulator/throttle", json: ["enabled": false])
        #expect(try query(emu, assign).status == 200)
        // A scenario (a reset) returns to the command line's setting: off.
        try emu.control("POST", "/_emulator/throttle", json: ["enabled": true])
        try emu.scenario()
        #expect((try emu.control("GET", "/_emulator/throttle") as? [String: Any])?["enabled"] as? Bool == false)
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

// MARK: EC2 address assignment beyond moto (the proxy's address model)

/// One EC2 Query call through the proxy (the fake signature of `query`; SigV4 verification is off by default).
private func call(_ emu: EC2Emulator, _ action: String, _ params: [(String, String)]) throws -> EC2Emulator.HTTPResponse {
    let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
    let form = ([("Action", action)] + params)
        .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: safe) ?? $0.1)" }
        .joined(separator: "&")
    return try query(emu, form)
}

/// `Name.1=v1&Name.2=v2…`
private func indexed(_ name: String, _ values: [String]) -> [(String, String)] {
    values.enumerated().map { ("\(name).\($0.offset + 1)", $0.element) }
}

/// The text of every `<tag>…</tag>` inside `text` (or inside its first `<within>…</within>`), in order.
private func values(_ text: String, _ tag: String, within: String? = nil) -> [String] {
    var hay = Substring(text)
    if let within {
        guard let open = hay.range(of: "<\(within)>") else { return [] }
        guard let close = hay.range(of: "</\(within)>", range: open.upperBound..<hay.endIndex) else { return [] }
        hay = hay[open.upperBound..<close.lowerBound]
    }
    var out: [String] = []
    while let a = hay.range(of: "<\(tag)>"), let b = hay.range(of: "</\(tag)>", range: a.upperBound..<hay.endIndex) {
        out.append(String(hay[a.upperBound..<b.lowerBound]))
        hay = hay[b.upperBound...]
    }
    return out
}

private func errorCode(_ r: EC2Emulator.HTTPResponse) -> String? { values(r.text, "Code").first }

/// IPv4 address → UInt32 (test arithmetic on the subnet).
private func v4(_ s: String) -> UInt32 {
    s.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32($1)! }
}

private func v4String(_ n: UInt32) -> String { "\(n >> 24).\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)" }

/// Every address in `prefix` ("10.0.100.32/28").
private func v4Members(_ prefix: String) -> Set<String> {
    let parts = prefix.split(separator: "/")
    let base = v4(String(parts[0])), len = UInt32(parts[1])!
    return Set((0..<(UInt32(1) << (32 - len))).map { v4String(base + $0) })
}

@Suite(.serialized, .enabled(if: enabled, "python3 + moto[server] (or CI)"))
struct UnitEmulatorAddressTests {
    static let env = Result { try EC2Emulator() }

    struct Std {
        let world: [String: Any]
        let multus: String, untagged: String
        let multusMAC: String
        let multusPrimary: String, untaggedPrimary: String
    }

    /// The standard scenario: "multus" and "untagged" share multus-us-east-1a (10.0.100.0/24 + an IPv6 /64).
    func standard(_ emu: EC2Emulator, _ extra: [String: Any] = [:]) throws -> Std {
        let w = try emu.scenario(extra)
        let m = try #require(sub(w, "enis", "multus") as? [String: Any])
        let u = try #require(sub(w, "enis", "untagged") as? [String: Any])
        return Std(world: w, multus: try #require(m["id"] as? String), untagged: try #require(u["id"] as? String),
                   multusMAC: try #require(m["mac"] as? String),
                   multusPrimary: try #require(m["privateIp"] as? String),
                   untaggedPrimary: try #require(u["privateIp"] as? String))
    }

    func assigned(_ r: EC2Emulator.HTTPResponse) -> [String] {
        values(r.text, "privateIpAddress", within: "assignedPrivateIpAddressesSet")
    }

    @Test func countsAcrossENIsNeverCollideNeverReservedLowestFirst() throws {
        let emu = try Self.env.get()
        let w = try emu.scenario([
            "subnets": [["name": "nodes", "cidr": "10.0.0.0/24"], ["name": "small", "cidr": "10.0.50.0/27"]],
            "instances": [["name": "n1", "subnet": "nodes", "enis": [
                ["name": "a", "subnet": "small", "deviceIndex": 1, "privateIp": "10.0.50.10"],
                ["name": "b", "subnet": "small", "deviceIndex": 2, "privateIp": "10.0.50.20"],
            ]]],
        ])
        let a = try #require(sub(w, "enis", "a", "id") as? String)
        let b = try #require(sub(w, "enis", "b", "id") as? String)
        // 32 addresses − 5 reserved (.0 .1 .2 .3 .31) − 2 primaries = 25 to hand out, in five calls of five.
        var handed: [String: [String]] = [a: [], b: []]
        for (k, eni) in [a, b, a, b, a].enumerated() {
            let r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", eni), ("SecondaryPrivateIpAddressCount", "5")])
            #expect(r.status == 200, "call \(k): \(r.text)")
            let got = assigned(r)
            #expect(got.count == 5, "call \(k) lists only the five it assigned: \(got)")
            #expect(Set(got).isDisjoint(with: handed[eni]!), "call \(k) repeats earlier addresses")
            handed[eni]! += got
        }
        #expect(handed[a]!.prefix(5) == ["10.0.50.4", "10.0.50.5", "10.0.50.6", "10.0.50.7", "10.0.50.8"])
        let all = handed[a]! + handed[b]!
        #expect(Set(all).count == 25, "no address handed out twice")
        let reserved: Set<String> = ["10.0.50.0", "10.0.50.1", "10.0.50.2", "10.0.50.3", "10.0.50.31"]
        #expect(Set(all).isDisjoint(with: reserved.union(["10.0.50.10", "10.0.50.20"])))
        #expect(all.allSatisfy { v4($0) >= v4("10.0.50.0") && v4($0) <= v4("10.0.50.31") })
        // moto holds exactly that.
        let enis = try emu.enis()
        #expect(enis[a]?.privateIps == ["10.0.50.10"] + handed[a]!)
        #expect(enis[b]?.privateIps == ["10.0.50.20"] + handed[b]!)
        // Exhausted: the EC2 error, nothing changes.
        let r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", b), ("SecondaryPrivateIpAddressCount", "1")])
        #expect(r.status == 400 && errorCode(r) == "InsufficientFreeAddressesInSubnet", "\(r.text)")
        #expect(try emu.enis()[b]?.privateIps.count == 11)
        // Bad counts and parameter combinations.
        let zero = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", a), ("SecondaryPrivateIpAddressCount", "0")])
        #expect(zero.status == 400 && errorCode(zero) == "InvalidParameterValue")
        let both = try call(emu, "AssignPrivateIpAddresses",
                            [("NetworkInterfaceId", a), ("SecondaryPrivateIpAddressCount", "1"), ("PrivateIpAddress.1", "10.0.50.9")])
        #expect(both.status == 400 && errorCode(both) == "InvalidParameterCombination")
        let none = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", a)])
        #expect(none.status == 400 && errorCode(none) == "MissingParameter")
        // An unknown ENI is moto's answer.
        let unknown = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", "eni-0000"), ("SecondaryPrivateIpAddressCount", "1")])
        #expect(unknown.status == 400 && errorCode(unknown) == "InvalidNetworkInterfaceID.NotFound")
    }

    @Test func concurrentCountsNeverCollide() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        let out = try boto(emu, """
        from concurrent.futures import ThreadPoolExecutor
        c = client()
        def one(k):
            eni = "\(s.multus)" if k % 2 else "\(s.untagged)"
            r = c.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=3)
            return [a["PrivateIpAddress"] for a in r["AssignedPrivateIpAddresses"]]
        with ThreadPoolExecutor(8) as ex:
            got = [a for r in ex.map(one, range(16)) for a in r]
        print(len(got), len(set(got)))
        """)
        #expect(out == "48 48")
        let enis = try emu.enis()
        let held = (enis[s.multus]?.privateIps ?? []) + (enis[s.untagged]?.privateIps ?? [])
        #expect(held.count == 50 && Set(held).count == 50, "\(held)")
    }

    @Test func explicitAddressesInUseReassignmentAndBounds() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        func assign(_ eni: String, _ addrs: [String], reassign: Bool = false) throws -> EC2Emulator.HTTPResponse {
            try call(emu, "AssignPrivateIpAddresses",
                     [("NetworkInterfaceId", eni)] + indexed("PrivateIpAddress", addrs)
                        + (reassign ? [("AllowReassignment", "true")] : []))
        }
        func holders(_ a: String) throws -> [String] {
            try emu.enis().values.filter { $0.privateIps.contains(a) }.map(\.id)
        }
        var r = try assign(s.untagged, ["10.0.100.50"])
        #expect(r.status == 200 && assigned(r) == ["10.0.100.50"])
        // Held by another ENI, no AllowReassignment: refused, nothing changes (the free one asked with it neither).
        r = try assign(s.multus, ["10.0.100.51", "10.0.100.50"])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue", "\(r.text)")
        #expect(r.text.contains("10.0.100.50") && r.text.contains("move is not allowed"))
        #expect(try holders("10.0.100.50") == [s.untagged])
        #expect(try holders("10.0.100.51").isEmpty)
        // AllowReassignment moves it.
        r = try assign(s.multus, ["10.0.100.50"], reassign: true)
        #expect(r.status == 200 && assigned(r) == ["10.0.100.50"], "\(r.text)")
        #expect(try holders("10.0.100.50") == [s.multus])
        // Again on the same ENI: fine, no duplicate entry.
        r = try assign(s.multus, ["10.0.100.50"])
        #expect(r.status == 200)
        #expect(try emu.enis()[s.multus]?.privateIps.filter { $0 == "10.0.100.50" }.count == 1)
        // The answer lists what this call assigned, not the ENI's other addresses.
        r = try assign(s.multus, ["10.0.100.60", "10.0.100.61"])
        #expect(assigned(r) == ["10.0.100.60", "10.0.100.61"])
        #expect(try emu.enis()[s.multus]?.privateIps == [s.multusPrimary, "10.0.100.50", "10.0.100.60", "10.0.100.61"])
        // Another ENI's primary cannot move, even with AllowReassignment.
        r = try assign(s.multus, [s.untaggedPrimary], reassign: true)
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        #expect(try emu.enis()[s.untagged]?.privateIps.first == s.untaggedPrimary)
        #expect(try holders(s.untaggedPrimary) == [s.untagged])
        // Outside the subnet, AWS-reserved, not an address.
        for bad in ["10.0.101.7", "10.0.100.0", "10.0.100.1", "10.0.100.3", "10.0.100.255", "10.0.100.256", "fe80::1"] {
            r = try assign(s.multus, [bad])
            #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue", "\(bad): \(r.text)")
        }
        #expect(try emu.enis()[s.multus]?.privateIps.count == 4)
    }

    @Test func ipv4PrefixesNeverOverlapAddressesOrEachOther() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        #expect(try call(emu, "AssignPrivateIpAddresses",
                         [("NetworkInterfaceId", s.untagged), ("PrivateIpAddress.1", "10.0.100.34")]).status == 200)
        // The lowest aligned /28s free of addresses (primaries, .34) and of the reserved .0-.3 / .255.
        let used = try emu.enis().values.flatMap(\.privateIps).filter { $0.hasPrefix("10.0.100.") }
        let busy = Set(used.map { Int(v4($0) & 255) / 16 }).union([0, 15])
        let expected = (0..<16).filter { !busy.contains($0) }.prefix(2).map { "10.0.100.\($0 * 16)/28" }
        var r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "2")])
        #expect(r.status == 200, "\(r.text)")
        let prefixes = values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet")
        #expect(prefixes == expected)
        #expect(assigned(r).isEmpty)
        try #require(prefixes.count == 2)
        let inPrefixes = prefixes.reduce(Set<String>()) { $0.union(v4Members($1)) }
        #expect(inPrefixes.isDisjoint(with: used))
        // Counts after that never land inside a prefix.
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.untagged), ("SecondaryPrivateIpAddressCount", "40")])
        #expect(r.status == 200 && assigned(r).count == 40)
        #expect(Set(assigned(r)).isDisjoint(with: inPrefixes))
        // Explicit: an address inside a prefix, a prefix over an address, a prefix over a prefix: in use.
        let member = v4String(v4(String(prefixes[0].split(separator: "/")[0])) + 5)
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.untagged), ("PrivateIpAddress.1", member)])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.untagged), ("Ipv4Prefix.1", prefixes[1])])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        let untaggedIPs = try #require(try emu.enis()[s.untagged]?.privateIps)
        let held = try #require(untaggedIPs.last)
        r = try call(emu, "AssignPrivateIpAddresses",
                     [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", "10.0.100.\(Int(v4(held) & 255) / 16 * 16)/28")])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", "10.0.100.0/28")])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "reserved .0-.3: \(r.text)")
        for bad in ["10.0.100.20/28", "10.0.100.16/27", "10.0.101.16/28", "nonsense"] {
            r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", bad)])
            #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue", "\(bad): \(r.text)")
        }
        // An explicit free one: the highest usable block below .240 that nothing touches.
        let now = try emu.enis().values.flatMap(\.privateIps).filter { $0.hasPrefix("10.0.100.") }
        let taken = Set(now.map { Int(v4($0) & 255) / 16 }).union([0, 15]).union(prefixes.map { Int(v4(String($0.split(separator: "/")[0])) & 255) / 16 })
        let free = try #require((1..<15).reversed().first { !taken.contains($0) })
        let third = "10.0.100.\(free * 16)/28"
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", third)])
        #expect(r.status == 200 && values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet") == [third], "\(r.text)")
        // Shown by DescribeNetworkInterfaces, the control API and IMDS.
        let d = try call(emu, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", s.multus)])
        #expect(values(d.text, "ipv4Prefix", within: "ipv4PrefixSet") == prefixes + [third])
        #expect(try emu.enis()[s.multus]?.ipv4Prefixes == prefixes + [third])
        #expect(try emu.enis()[s.untagged]?.ipv4Prefixes == [])
        let t = try token(emu.imdsURL)
        let url = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(s.multusMAC)/ipv4-prefix"
        #expect(try get(url, token: t).text.split(separator: "\n").map(String.init) == prefixes + [third])
        // Unassign one: gone everywhere; again: not assigned.
        r = try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", prefixes[0])])
        #expect(r.status == 200 && values(r.text, "return") == ["true"], "\(r.text)")
        #expect(try emu.enis()[s.multus]?.ipv4Prefixes == [prefixes[1], third])
        #expect(!(try get(url, token: t).text.contains(prefixes[0])))
        r = try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", prefixes[0])])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue")
        // Its block is free again: the next count gets it.
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.untagged), ("Ipv4PrefixCount", "1")])
        #expect(values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet") == [prefixes[0]])
    }

    @Test func ipv6CountsExplicitInUseAndPrefixes() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        func assign6(_ eni: String, _ p: [(String, String)]) throws -> EC2Emulator.HTTPResponse {
            try call(emu, "AssignIpv6Addresses", [("NetworkInterfaceId", eni)] + p)
        }
        var r = try assign6(s.multus, [("Ipv6AddressCount", "2")])
        let m1 = values(r.text, "item", within: "assignedIpv6Addresses")
        r = try assign6(s.untagged, [("Ipv6AddressCount", "2")])
        let u1 = values(r.text, "item", within: "assignedIpv6Addresses")
        r = try assign6(s.multus, [("Ipv6AddressCount", "1")])
        let m2 = values(r.text, "item", within: "assignedIpv6Addresses")
        try #require(m1.count == 2 && u1.count == 2 && m2.count == 1, "\(m1) \(u1) \(m2)")
        #expect(Set(m1 + u1 + m2).count == 5, "no IPv6 address handed out twice")
        let sub6 = try #require(sub(s.world, "subnets", "multus-us-east-1a", "ipv6Cidr") as? String)
        let net = String(sub6.dropLast("::/64".count))
        #expect(m1 == ["\(net)::4", "\(net)::5"], "lowest first, past the first four: \(m1)")
        var enis = try emu.enis()
        #expect(enis[s.multus]?.ipv6s == m1 + m2 && enis[s.untagged]?.ipv6s == u1)
        // Explicit: held by another ENI → in use (no reassignment for IPv6); own again → fine; outside → invalid.
        r = try assign6(s.multus, [("Ipv6Addresses.1", u1[0])])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        #expect(try emu.enis()[s.untagged]?.ipv6s == u1)
        r = try assign6(s.multus, [("Ipv6Addresses.1", m1[0])])
        #expect(r.status == 200 && values(r.text, "item", within: "assignedIpv6Addresses") == [m1[0]])
        r = try assign6(s.multus, [("Ipv6Addresses.1", "2001:db8::10")])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue")
        // /80 prefixes: none containing an address, none overlapping.
        r = try assign6(s.multus, [("Ipv6PrefixCount", "2")])
        let p6 = values(r.text, "item", within: "assignedIpv6PrefixSet")
        #expect(r.status == 200 && p6 == ["\(net):1::/80", "\(net):2::/80"], "\(r.text)")
        try #require(p6.count == 2)
        #expect(values(r.text, "item", within: "assignedIpv6Addresses").isEmpty)
        r = try assign6(s.untagged, [("Ipv6Addresses.1", "\(net):1::9")])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        r = try assign6(s.untagged, [("Ipv6Prefix.1", "\(net):2::/80")])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "\(r.text)")
        r = try assign6(s.untagged, [("Ipv6Prefix.1", "\(net)::/80")])
        #expect(r.status == 400 && errorCode(r) == "InvalidIPAddress.InUse", "block 0 holds addresses: \(r.text)")
        r = try assign6(s.untagged, [("Ipv6Prefix.1", "\(net):7::/80")])
        #expect(r.status == 200 && values(r.text, "item", within: "assignedIpv6PrefixSet") == ["\(net):7::/80"])
        // Shown by DescribeNetworkInterfaces, the control API and IMDS.
        let d = try call(emu, "DescribeNetworkInterfaces", indexed("NetworkInterfaceId", [s.multus, s.untagged]))
        #expect(values(d.text, "ipv6Prefix") == p6 + ["\(net):7::/80"])
        enis = try emu.enis()
        #expect(enis[s.multus]?.ipv6Prefixes == p6 && enis[s.untagged]?.ipv6Prefixes == ["\(net):7::/80"])
        let t = try token(emu.imdsURL)
        let url = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(s.multusMAC)/ipv6-prefix"
        #expect(try get(url, token: t).text.split(separator: "\n").map(String.init) == p6)
        // Unassign a prefix and an address in one call: the answer lists both.
        r = try call(emu, "UnassignIpv6Addresses",
                     [("NetworkInterfaceId", s.multus), ("Ipv6Prefix.1", p6[0]), ("Ipv6Addresses.1", m2[0])])
        #expect(r.status == 200, "\(r.text)")
        #expect(values(r.text, "item", within: "unassignedIpv6PrefixSet") == [p6[0]])
        #expect(values(r.text, "item", within: "unassignedIpv6Addresses") == [m2[0]])
        enis = try emu.enis()
        #expect(enis[s.multus]?.ipv6Prefixes == [p6[1]] && enis[s.multus]?.ipv6s == m1)
        #expect(try get(url, token: t).text == p6[1])
    }

    @Test func perENILimitsCountAddressesAndPrefixes() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        try emu.setLimits(ipv4PerENI: 3, ipv6PerENI: 2)
        #expect(try emu.limits() == (3, 2))
        func a4(_ p: [(String, String)]) throws -> EC2Emulator.HTTPResponse {
            try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus)] + p)
        }
        func a6(_ p: [(String, String)]) throws -> EC2Emulator.HTTPResponse {
            try call(emu, "AssignIpv6Addresses", [("NetworkInterfaceId", s.multus)] + p)
        }
        var r = try a4([("SecondaryPrivateIpAddressCount", "2")])  // primary + 2 = 3
        #expect(r.status == 200, "\(r.text)")
        let two = assigned(r)
        try #require(two.count == 2)
        for p in [[("SecondaryPrivateIpAddressCount", "1")], [("PrivateIpAddress.1", "10.0.100.99")], [("Ipv4PrefixCount", "1")],
                  [("Ipv4Prefix.1", "10.0.100.224/28")]] {
            r = try a4(p)
            #expect(r.status == 400 && errorCode(r) == "PrivateIpAddressLimitExceeded", "\(p): \(r.text)")
        }
        #expect(try emu.enis()[s.multus]?.privateIps.count == 3)
        #expect(try emu.enis()[s.multus]?.ipv4Prefixes == [])
        // A prefix takes a slot: free one address, then a prefix fits, then nothing more.
        r = try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("PrivateIpAddress.1", two[1])])
        #expect(r.status == 200)
        r = try a4([("Ipv4PrefixCount", "1")])
        #expect(r.status == 200, "\(r.text)")
        r = try a4([("SecondaryPrivateIpAddressCount", "1")])
        #expect(r.status == 400 && errorCode(r) == "PrivateIpAddressLimitExceeded")
        // The other ENI has its own budget.
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.untagged), ("SecondaryPrivateIpAddressCount", "2")])
        #expect(r.status == 200)
        // IPv6: addresses + prefixes.
        #expect(try a6([("Ipv6AddressCount", "1")]).status == 200)
        #expect(try a6([("Ipv6PrefixCount", "1")]).status == 200)
        r = try a6([("Ipv6AddressCount", "1")])
        #expect(r.status == 400 && errorCode(r) == "PrivateIpAddressLimitExceeded", "\(r.text)")
        #expect(try emu.enis()[s.multus]?.ipv6s.count == 1)
        // Lifted.
        try emu.setLimits(ipv4PerENI: nil, ipv6PerENI: nil)
        #expect(try emu.limits() == (nil, nil))
        #expect(try a4([("SecondaryPrivateIpAddressCount", "5")]).status == 200)
        #expect(try a6([("Ipv6AddressCount", "5")]).status == 200)
        // A scenario may set them; a scenario without clears them.
        try emu.setLimits(ipv4PerENI: 7, ipv6PerENI: nil)
        _ = try standard(emu, ["limits": ["ipv4PerEni": 2]])
        #expect(try emu.limits() == (2, nil))
        _ = try standard(emu)
        #expect(try emu.limits() == (nil, nil))
        #expect(throws: EC2EmulatorError.self) { try emu.control("POST", "/_emulator/limits", json: ["ipv4PerEni": 0]) }
    }

    @Test func unassigningWhatTheENIDoesNotHaveIsAnError() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        #expect(try call(emu, "AssignPrivateIpAddresses",
                         [("NetworkInterfaceId", s.multus), ("PrivateIpAddress.1", "10.0.100.70")]).status == 200)
        func unassign(_ eni: String, _ addrs: [String]) throws -> EC2Emulator.HTTPResponse {
            try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", eni)] + indexed("PrivateIpAddress", addrs))
        }
        var r = try unassign(s.multus, ["10.0.100.77"])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue", "\(r.text)")
        #expect(r.text.contains("not assigned to interface \(s.multus)"))
        // One of ours with one that is not: refused as a whole.
        r = try unassign(s.multus, ["10.0.100.70", "10.0.100.77"])
        #expect(r.status == 400)
        #expect(try emu.enis()[s.multus]?.privateIps.contains("10.0.100.70") == true)
        // Another ENI's address is not ours to release.
        r = try unassign(s.multus, [s.untaggedPrimary])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue")
        #expect(try emu.enis()[s.untagged]?.privateIps.first == s.untaggedPrimary)
        // The primary cannot go.
        r = try unassign(s.multus, [s.multusPrimary])
        #expect(r.status == 400 && errorCode(r) == "InvalidParameterValue")
        #expect(try emu.enis()[s.multus]?.privateIps.first == s.multusPrimary)
        r = try unassign(s.multus, ["10.0.100.70"])
        #expect(r.status == 200 && values(r.text, "return") == ["true"])
        #expect(try emu.enis()[s.multus]?.privateIps == [s.multusPrimary])
        let none = try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", s.multus)])
        #expect(none.status == 400 && errorCode(none) == "MissingParameter")
    }

    @Test func prefixesGoWithResetScenarioAndDeletedENIs() throws {
        let emu = try Self.env.get()
        let s = try standard(emu, ["enis": [["name": "loose", "subnet": "multus-us-east-1a", "privateIp": "10.0.100.250"]]])
        let loose = try #require(sub(s.world, "enis", "loose", "id") as? String)
        var r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", loose), ("Ipv4PrefixCount", "1")])
        let p = values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet")
        #expect(p.count == 1)
        #expect(try emu.enis()[loose]?.ipv4Prefixes == p)
        #expect(try call(emu, "DeleteNetworkInterface", [("NetworkInterfaceId", loose)]).status == 200)
        #expect(try emu.enis()[loose] == nil)
        // Its block is free again.
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "1")])
        #expect(values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet") == p)
        r = try call(emu, "AssignIpv6Addresses", [("NetworkInterfaceId", s.multus), ("Ipv6PrefixCount", "1")])
        #expect(r.status == 200)
        #expect(try emu.enis()[s.multus]?.ipv6Prefixes.count == 1)
        // A scenario (a reset) forgets every prefix.
        let again = try standard(emu)
        #expect(again.multus == s.multus)
        #expect(try emu.enis().values.allSatisfy { $0.ipv4Prefixes.isEmpty && $0.ipv6Prefixes.isEmpty })
        let t = try token(emu.imdsURL)
        let base = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(s.multusMAC)/"
        #expect(try get(base + "ipv4-prefix", token: t).status == 404)
        #expect(try get(base + "ipv6-prefix", token: t).status == 404)
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "1")])
        #expect(values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet") == p)
        try emu.reset()
        #expect(try emu.enis().values.allSatisfy { $0.ipv4Prefixes.isEmpty })
    }

    @Test func faultsCountsLogAndSignaturesStillApply() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        try emu.resetCounts()
        let before = try emu.enis()
        // A fault answers before the model: nothing assigned.
        try emu.fault(action: "AssignPrivateIpAddresses", mode: "throttle", count: 1)
        var r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("SecondaryPrivateIpAddressCount", "1")])
        #expect(r.status == 503 && errorCode(r) == "RequestLimitExceeded")
        #expect(try emu.enis() == before)
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("SecondaryPrivateIpAddressCount", "1")])
        #expect(r.status == 200 && assigned(r).count == 1)
        #expect(try emu.counts()["AssignPrivateIpAddresses"] == 2)
        let log = try emu.requests(action: "AssignPrivateIpAddresses")
        #expect(log.map { $0["status"] as? Int } == [503, 200])
        #expect(log.allSatisfy { ($0["params"] as? [String: Any])?["SecondaryPrivateIpAddressCount"] as? String == "1" })
        #expect(log.map { $0["fault"] as? String } == ["throttle", nil])
        // drop: never reaches the model; drop-after: the model applies it, the client never hears back.
        try emu.fault(action: "AssignPrivateIpAddresses", mode: "drop", count: 1)
        #expect(throws: EC2EmulatorError.self) {
            try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "1")])
        }
        #expect(try emu.enis()[s.multus]?.ipv4Prefixes == [])
        try emu.fault(action: "AssignPrivateIpAddresses", mode: "drop-after", count: 1)
        #expect(throws: EC2EmulatorError.self) {
            try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "1")])
        }
        #expect(try emu.enis()[s.multus]?.ipv4Prefixes.count == 1)
        #expect(try emu.counts()["AssignPrivateIpAddresses"] == 4)
        try emu.clearFaults()
        // SigV4 verification ON: a bad signature is refused before the model; botocore-signed calls go through and
        // botocore's parser (the EC2 model's element names) reads the answers.
        try emu.sigv4(verify: true)
        defer { try? emu.sigv4(verify: false) }
        let mid = try emu.enis()
        r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("SecondaryPrivateIpAddressCount", "1")])
        #expect(r.status == 403 && errorCode(r) == "SignatureDoesNotMatch")
        #expect(try emu.enis() == mid)
        let out = try boto(emu, """
        c = client()
        a = c.assign_private_ip_addresses(NetworkInterfaceId="\(s.untagged)", SecondaryPrivateIpAddressCount=2)
        p = c.assign_private_ip_addresses(NetworkInterfaceId="\(s.untagged)", Ipv4PrefixCount=1)
        v = c.assign_ipv6_addresses(NetworkInterfaceId="\(s.untagged)", Ipv6AddressCount=1)
        q = c.assign_ipv6_addresses(NetworkInterfaceId="\(s.untagged)", Ipv6PrefixCount=1)
        d = c.describe_network_interfaces(NetworkInterfaceIds=["\(s.untagged)"])["NetworkInterfaces"][0]
        u = c.unassign_ipv6_addresses(NetworkInterfaceId="\(s.untagged)", Ipv6Prefixes=q["AssignedIpv6Prefixes"])
        print(json.dumps([len(a["AssignedPrivateIpAddresses"]), a["AssignedIpv4Prefixes"] == [],
            [x["Ipv4Prefix"] for x in p["AssignedIpv4Prefixes"]] == [x["Ipv4Prefix"] for x in d["Ipv4Prefixes"]],
            len(v["AssignedIpv6Addresses"]), q["AssignedIpv6Prefixes"] == [x["Ipv6Prefix"] for x in d["Ipv6Prefixes"]],
            u["UnassignedIpv6Prefixes"] == q["AssignedIpv6Prefixes"]]))
        """)
        #expect(out == "[2, true, true, 1, true, true]")
        let sigs = try emu.requests(action: "AssignIpv6Addresses").compactMap { $0["signature"] as? String }
        #expect(sigs == ["valid", "valid"])
    }

    @Test func imdsShowsPrefixesWithThePropagationLag() throws {
        let emu = try Self.env.get()
        let s = try standard(emu)
        try emu.imds(["lagMs": 1500])
        defer { _ = try? emu.imds(["lagMs": 0]) }
        let t = try token(emu.imdsURL)
        let url = emu.imdsURL + "/latest/meta-data/network/interfaces/macs/\(s.multusMAC)/ipv4-prefix"
        #expect(try get(url, token: t).status == 404)
        let before = Date()
        let r = try call(emu, "AssignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4PrefixCount", "1")])
        let p = try #require(values(r.text, "ipv4Prefix", within: "assignedIpv4PrefixSet").first)
        let early = try get(url, token: t)
        if Date().timeIntervalSince(before) < 1.2 { #expect(early.status == 404) }
        #expect(waitUntil(timeout: 5) { (try? get(url, token: t).text) == p })
        #expect(Date().timeIntervalSince(before) >= 1.45)
        let before2 = Date()
        #expect(try call(emu, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", s.multus), ("Ipv4Prefix.1", p)]).status == 200)
        let stale = try get(url, token: t)
        if Date().timeIntervalSince(before2) < 1.2 { #expect(stale.text == p) }
        #expect(waitUntil(timeout: 5) { (try? get(url, token: t).status) == 404 })
    }
}
