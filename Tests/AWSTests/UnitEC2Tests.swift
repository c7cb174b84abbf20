import Testing
@testable import AWS

/// Request bodies are compared byte for byte with what botocore 1.x serializes for the same parameters (generated
/// once with `botocore.serialize.create_serializer('ec2')` and pasted here), responses are decoded from
/// AWS-documented shapes.
@Suite struct UnitEC2Tests {
    static let eni = "eni-0a1b2c3d4e5f60718"

    /// Runs `body` against a transport that answers every request with `response`; returns the request bodies.
    func bodies(_ response: String, _ body: (EC2Client) throws -> Void) throws -> [String] {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(response) }
        try body(makeEC2(t, clock: clock))
        return t.bodies
    }

    // MARK: Configuration

    @Test("endpoint: AWS_ENDPOINT_URL_EC2 > AWS_ENDPOINT_URL > regional default")
    func endpoint() {
        #expect(EC2Client.resolveEndpoint(environment: [:], region: "us-west-2") == "https://ec2.us-west-2.amazonaws.com")
        #expect(EC2Client.resolveEndpoint(environment: [:], region: "cn-north-1")
            == "https://ec2.cn-north-1.amazonaws.com.cn")
        #expect(EC2Client.resolveEndpoint(environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:1"], region: "x")
            == "http://127.0.0.1:1")
        #expect(EC2Client.resolveEndpoint(
            environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:2"],
            region: "x") == "http://127.0.0.1:2")
        #expect(EC2Client.resolveEndpoint(environment: ["AWS_ENDPOINT_URL_EC2": ""], region: "eu-west-1")
            == "https://ec2.eu-west-1.amazonaws.com")
    }

    @Test("region: AWS_REGION > AWS_DEFAULT_REGION > IMDS placement/region")
    func region() throws {
        #expect(try EC2Client.resolveRegion(environment: ["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "x"],
                                            imds: nil) == "eu-west-1")
        #expect(try EC2Client.resolveRegion(environment: ["AWS_DEFAULT_REGION": "ap-south-1"], imds: nil)
            == "ap-south-1")
        let clock = FakeClock()
        let t = FakeTransport { req, _ in
            if req.method == "PUT" { return text("tok") }
            return req.url.hasSuffix("placement/region") ? text("us-east-2") : text("", status: 404)
        }
        let imds = IMDSClient(endpoint: "http://127.0.0.1:9", transport: t, clock: clock,
                              deadline: Deadline(seconds: 5, clock: clock))
        #expect(try EC2Client.resolveRegion(environment: [:], imds: imds) == "us-east-2")
        #expect(throws: AWSError.self) { try EC2Client.resolveRegion(environment: [:], imds: nil) }
    }

    @Test("requests: signed POST to <endpoint>/, form content type, timeout from the deadline")
    func requestShape() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.returnTrue("DeleteNetworkInterface")) }
        let ec2 = makeEC2(t, clock: clock, deadline: 12)
        try ec2.deleteNetworkInterface(id: Self.eni)
        let r = try #require(t.requests.first)
        #expect(r.method == "POST")
        #expect(r.url == "http://127.0.0.1:5000/")
        #expect(t.header("Content-Type", of: r) == "application/x-www-form-urlencoded; charset=utf-8")
        #expect(t.header("Authorization", of: r)?.contains("/us-west-2/ec2/aws4_request") == true)
        #expect(r.timeout == 12)
        #expect(ec2.attempts == ["DeleteNetworkInterface"])
    }

    // MARK: Request bodies (botocore-identical)

    @Test("DescribeNetworkInterfaces by ids (no MaxResults with ids)")
    func describeByIDs() throws {
        let b = try bodies(EC2Fixtures.page([], next: nil)) {
            _ = try $0.describeNetworkInterfaces(ids: [Self.eni, "eni-1a2b3c4d5e6f70819"])
        }
        #expect(b == ["Action=DescribeNetworkInterfaces&Version=2016-11-15&NetworkInterfaceId.1=eni-0a1b2c3d4e5f60718"
                      + "&NetworkInterfaceId.2=eni-1a2b3c4d5e6f70819"])
    }

    @Test("DescribeNetworkInterfaces by filters, paginated")
    func describeByFilters() throws {
        let b = try bodies(EC2Fixtures.page([], next: nil)) {
            _ = try $0.describeNetworkInterfaces(filters: [
                EC2Filter("attachment.instance-id", "i-1234567890abcdef0"),
                .tag("node.k8s.amazonaws.com/no_manage", "true"),
            ])
        }
        #expect(b == ["Action=DescribeNetworkInterfaces&Version=2016-11-15&MaxResults=1000"
                      + "&Filter.1.Name=attachment.instance-id&Filter.1.Value.1=i-1234567890abcdef0"
                      + "&Filter.2.Name=tag%3Anode.k8s.amazonaws.com%2Fno_manage&Filter.2.Value.1=true"])
    }

    @Test("NextToken pagination: follows tokens, sends them encoded, concatenates pages")
    func pagination() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, n in
            switch n {
            case 1: return ok(EC2Fixtures.page(["eni-1", "eni-2"], next: "tok/en+1="))
            case 2: return ok(EC2Fixtures.page(["eni-3"], next: "tok2"))
            default: return ok(EC2Fixtures.page(["eni-4"], next: nil))
            }
        }
        let enis = try makeEC2(t, clock: clock).describeNetworkInterfaces(filters: [EC2Filter("subnet-id", ["subnet-a", "subnet-b"])])
        #expect(enis.map(\.id) == ["eni-1", "eni-2", "eni-3", "eni-4"])
        #expect(t.bodies.count == 3)
        #expect(t.bodies[0] == "Action=DescribeNetworkInterfaces&Version=2016-11-15&MaxResults=1000"
                + "&Filter.1.Name=subnet-id&Filter.1.Value.1=subnet-a&Filter.1.Value.2=subnet-b")
        #expect(t.bodies[1] == "Action=DescribeNetworkInterfaces&Version=2016-11-15&MaxResults=1000&NextToken=tok%2Fen%2B1%3D"
                + "&Filter.1.Name=subnet-id&Filter.1.Value.1=subnet-a&Filter.1.Value.2=subnet-b")
        #expect(t.bodies[2].contains("&NextToken=tok2&"))
    }

    @Test("a repeated NextToken is malformed, not an endless loop")
    func paginationLoop() {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.page(["eni-1"], next: "same")) }
        #expect(throws: AWSError.malformedResponse("DescribeNetworkInterfaces repeated a NextToken")) {
            try makeEC2(t, clock: clock).describeNetworkInterfaces()
        }
        #expect(t.requests.count == 2)
    }

    @Test("DescribeSubnets / DescribeInstances / DescribeInstanceTypes bodies")
    func describeBodies() throws {
        #expect(try bodies(EC2Fixtures.describeSubnets) { _ = try $0.describeSubnets(ids: ["subnet-9d4a7b6c"]) }
            == ["Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=subnet-9d4a7b6c"])
        #expect(try bodies(EC2Fixtures.describeInstances) { _ = try $0.describeInstance(id: "i-1234567890abcdef0") }
            == ["Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1234567890abcdef0"])
        #expect(try bodies(EC2Fixtures.describeInstanceTypes) { _ = try $0.describeInstanceType("m5.large") }
            == ["Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=m5.large"])
    }

    @Test("AssignPrivateIpAddresses: addresses + AllowReassignment, count, prefixes, prefix count")
    func assignPrivateBodies() throws {
        let r = EC2Fixtures.assignPrivateIpAddresses
        let base = "Action=AssignPrivateIpAddresses&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
        #expect(try bodies(r) {
            try $0.assignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.11", "10.0.2.12"],
                                            allowReassignment: true)
        } == [base + "&PrivateIpAddress.1=10.0.2.11&PrivateIpAddress.2=10.0.2.12&AllowReassignment=true"])
        #expect(try bodies(r) { try $0.assignPrivateIPAddresses(networkInterfaceID: Self.eni, count: 2) }
            == [base + "&SecondaryPrivateIpAddressCount=2"])
        #expect(try bodies(r) { try $0.assignPrivateIPAddresses(networkInterfaceID: Self.eni, prefixes: ["10.0.3.16/28"]) }
            == [base + "&Ipv4Prefix.1=10.0.3.16%2F28"])
        #expect(try bodies(r) { try $0.assignPrivateIPAddresses(networkInterfaceID: Self.eni, prefixCount: 1) }
            == [base + "&Ipv4PrefixCount=1"])
    }

    @Test("UnassignPrivateIpAddresses with addresses and prefixes")
    func unassignPrivateBody() throws {
        #expect(try bodies(EC2Fixtures.returnTrue("UnassignPrivateIpAddresses")) {
            try $0.unassignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.11"],
                                              prefixes: ["10.0.3.16/28"])
        } == ["Action=UnassignPrivateIpAddresses&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
              + "&PrivateIpAddress.1=10.0.2.11&Ipv4Prefix.1=10.0.3.16%2F28"])
    }

    @Test("AssignIpv6Addresses / UnassignIpv6Addresses bodies")
    func ipv6Bodies() throws {
        let base = "Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
        #expect(try bodies(EC2Fixtures.assignIpv6Addresses) {
            try $0.assignIPv6Addresses(networkInterfaceID: Self.eni,
                                       addresses: ["2001:db8:1234:1a00::123", "2001:db8:1234:1a00::456"])
        } == ["Action=AssignIpv6Addresses&" + base + "&Ipv6Addresses.1=2001%3Adb8%3A1234%3A1a00%3A%3A123"
              + "&Ipv6Addresses.2=2001%3Adb8%3A1234%3A1a00%3A%3A456"])
        #expect(try bodies(EC2Fixtures.assignIpv6Addresses) {
            try $0.assignIPv6Addresses(networkInterfaceID: Self.eni, count: 1, prefixCount: 1)
        } == ["Action=AssignIpv6Addresses&" + base + "&Ipv6AddressCount=1&Ipv6PrefixCount=1"])
        #expect(try bodies(EC2Fixtures.assignIpv6Addresses) {
            try $0.assignIPv6Addresses(networkInterfaceID: Self.eni, prefixes: ["2001:db8:1234:1a00:9000::/80"])
        } == ["Action=AssignIpv6Addresses&" + base + "&Ipv6Prefix.1=2001%3Adb8%3A1234%3A1a00%3A9000%3A%3A%2F80"])
        #expect(try bodies(EC2Fixtures.unassignIpv6Addresses) {
            try $0.unassignIPv6Addresses(networkInterfaceID: Self.eni, addresses: ["2001:db8:1234:1a00::123"],
                                         prefixes: ["2001:db8:1234:1a00:9000::/80"])
        } == ["Action=UnassignIpv6Addresses&" + base + "&Ipv6Addresses.1=2001%3Adb8%3A1234%3A1a00%3A%3A123"
              + "&Ipv6Prefix.1=2001%3Adb8%3A1234%3A1a00%3A9000%3A%3A%2F80"])
    }

    @Test("CreateNetworkInterface with security groups, description and tags at creation")
    func createBody() throws {
        #expect(try bodies(EC2Fixtures.createNetworkInterface) {
            _ = try $0.createNetworkInterface(
                subnetID: "subnet-9d4a7b6c", securityGroupIDs: ["sg-903004f8", "sg-1a2b3c4d"],
                description: "eni-multus secondary",
                tags: [EC2Tag("node.k8s.amazonaws.com/no_manage", "true"), EC2Tag("cluster", "demo")])
        } == ["Action=CreateNetworkInterface&Version=2016-11-15&SubnetId=subnet-9d4a7b6c&SecurityGroupId.1=sg-903004f8"
              + "&SecurityGroupId.2=sg-1a2b3c4d&Description=eni-multus%20secondary"
              + "&TagSpecification.1.ResourceType=network-interface"
              + "&TagSpecification.1.Tag.1.Key=node.k8s.amazonaws.com%2Fno_manage&TagSpecification.1.Tag.1.Value=true"
              + "&TagSpecification.1.Tag.2.Key=cluster&TagSpecification.1.Tag.2.Value=demo"])
    }

    @Test("Attach / Detach / Delete / Modify / CreateTags bodies")
    func lifecycleBodies() throws {
        #expect(try bodies(EC2Fixtures.attachNetworkInterface) {
            _ = try $0.attachNetworkInterface(networkInterfaceID: Self.eni, instanceID: "i-1234567890abcdef0",
                                              deviceIndex: 1, networkCardIndex: 0)
        } == ["Action=AttachNetworkInterface&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
              + "&InstanceId=i-1234567890abcdef0&DeviceIndex=1&NetworkCardIndex=0"])
        #expect(try bodies(EC2Fixtures.returnTrue("DetachNetworkInterface")) {
            try $0.detachNetworkInterface(attachmentID: "eni-attach-66c4350a", force: true)
        } == ["Action=DetachNetworkInterface&Version=2016-11-15&AttachmentId=eni-attach-66c4350a&Force=true"])
        #expect(try bodies(EC2Fixtures.returnTrue("DeleteNetworkInterface")) {
            try $0.deleteNetworkInterface(id: Self.eni)
        } == ["Action=DeleteNetworkInterface&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"])
        #expect(try bodies(EC2Fixtures.returnTrue("ModifyNetworkInterfaceAttribute")) {
            try $0.modifySourceDestCheck(networkInterfaceID: Self.eni, enabled: false)
        } == ["Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
              + "&SourceDestCheck.Value=false"])
        #expect(try bodies(EC2Fixtures.returnTrue("ModifyNetworkInterfaceAttribute")) {
            try $0.modifyDeleteOnTermination(networkInterfaceID: Self.eni, attachmentID: "eni-attach-66c4350a",
                                             deleteOnTermination: true)
        } == ["Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId=eni-0a1b2c3d4e5f60718"
              + "&Attachment.AttachmentId=eni-attach-66c4350a&Attachment.DeleteOnTermination=true"])
        #expect(try bodies(EC2Fixtures.returnTrue("CreateTags")) {
            try $0.createTags(resourceIDs: [Self.eni],
                              tags: [EC2Tag("node.k8s.amazonaws.com/no_manage", "true"), EC2Tag("owner", "")])
        } == ["Action=CreateTags&Version=2016-11-15&ResourceId.1=eni-0a1b2c3d4e5f60718"
              + "&Tag.1.Key=node.k8s.amazonaws.com%2Fno_manage&Tag.1.Value=true&Tag.2.Key=owner&Tag.2.Value="])
    }

    // MARK: Response decoding

    @Test("DescribeNetworkInterfaces decodes every field the plugin uses")
    func decodeENIs() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.describeNetworkInterfaces) }
        let enis = try makeEC2(t, clock: clock).describeNetworkInterfaces(ids: ["eni-0f62d866", Self.eni])
        #expect(enis.count == 2)
        let p = enis[0]
        #expect(p.id == "eni-0f62d866")
        #expect(p.attachment?.deviceIndex == 0)
        #expect(p.description == "")
        #expect(p.privateIPs == [PrivateIP(address: "10.0.0.146", primary: true),
                                 PrivateIP(address: "10.0.0.148", primary: false),
                                 PrivateIP(address: "10.0.0.150", primary: false)])
        #expect(p.primaryIPv4 == "10.0.0.146")
        #expect(p.secondaryIPv4s == ["10.0.0.148", "10.0.0.150"])
        #expect(p.tags.isEmpty)
        #expect(p.ipv6Addresses.isEmpty)
        #expect(p.requesterManaged == false)

        let s = enis[1]
        #expect(s == NetworkInterface(
            id: Self.eni, subnetID: "subnet-9d4a7b6c", vpcID: "vpc-cc3c87a5", availabilityZone: "ap-southeast-1b",
            macAddress: "0a:1b:2c:3d:4e:5f", status: "in-use", description: "eni-multus secondary & friends",
            attachment: NetworkInterfaceAttachment(
                id: "eni-attach-66c4350a", instanceID: "i-1234567890abcdef0", deviceIndex: 1, networkCardIndex: 0,
                deleteOnTermination: false, status: "attached"),
            privateIPs: [PrivateIP(address: "10.0.2.10", primary: true), PrivateIP(address: "10.0.2.11", primary: false)],
            ipv6Addresses: ["2001:db8:1234:1a00::123", "2001:db8:1234:1a00::456"], ipv4Prefixes: ["10.0.3.16/28"],
            ipv6Prefixes: ["2001:db8:1234:1a00:9000::/80"],
            tags: ["node.k8s.amazonaws.com/no_manage": "true", "eni-multus/cluster": "demo", "empty": ""],
            sourceDestCheck: false, groups: ["sg-903004f8", "sg-1a2b3c4d"], interfaceType: "interface",
            requesterManaged: false))
    }

    @Test("an available (unattached) ENI has no attachment")
    func decodeUnattached() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.page(["eni-9"], next: nil)) }
        let e = try #require(try makeEC2(t, clock: clock).describeNetworkInterface(id: "eni-9"))
        #expect(e.attachment == nil)
        #expect(e.status == "available")
        #expect(e.privateIPs.isEmpty)
    }

    @Test("DescribeSubnets keeps associated IPv6 blocks only")
    func decodeSubnet() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.describeSubnets) }
        let s = try makeEC2(t, clock: clock).describeSubnets(ids: ["subnet-9d4a7b6c"])
        #expect(s == [Subnet(id: "subnet-9d4a7b6c", cidrBlock: "10.0.1.0/24", ipv6CidrBlocks: ["2001:db8:1234:1a00::/64"],
                             availabilityZone: "us-east-1a", vpcID: "vpc-1a2b3c4d", tags: ["Name": "multus-a"])])
    }

    @Test("DescribeInstances: instance fields and its ENIs")
    func decodeInstance() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.describeInstances) }
        let i = try #require(try makeEC2(t, clock: clock).describeInstance(id: "i-1234567890abcdef0"))
        #expect(i.instanceType == "m5.large")
        #expect(i.availabilityZone == "eu-west-1c")
        #expect(i.subnetID == "subnet-56f5f633")
        #expect(i.vpcID == "vpc-11112222")
        #expect(i.privateIPAddress == "192.168.1.88")
        #expect(i.state == "running")
        #expect(i.networkInterfaces.map(\.id) == ["eni-12345678", "eni-87654321"])
        #expect(i.networkInterfaces.map { $0.attachment?.deviceIndex } == [0, 1])
        #expect(i.networkInterfaces[0].ipv6Addresses == ["2001:db8:1234:1a2b::123"])
        #expect(i.networkInterfaces[1].macAddress == "02:dd:2c:5e:01:70")
    }

    @Test("DescribeInstances for an unknown id → nil")
    func unknownInstance() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ec2Error("InvalidInstanceID.NotFound", "The instance ID 'i-1a2b3c4d' does not exist") }
        #expect(try makeEC2(t, clock: clock).describeInstance(id: "i-1a2b3c4d") == nil)
        let t2 = FakeTransport { _, _ in ec2Error("InvalidNetworkInterfaceID.NotFound") }
        #expect(try makeEC2(t2, clock: clock).describeNetworkInterface(id: "eni-x") == nil)
    }

    @Test("DescribeInstanceTypes: limits, IPv6 support, network cards")
    func decodeInstanceTypes() throws {
        let clock = FakeClock()
        let m5 = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.describeInstanceTypes) }, clock: clock)
            .describeInstanceType("m5.large")
        #expect(m5 == InstanceTypeInfo(instanceType: "m5.large", maximumNetworkInterfaces: 3, ipv4AddressesPerInterface: 10,
                                       ipv6AddressesPerInterface: 10, ipv6Supported: true, maximumNetworkCards: 1,
                                       defaultNetworkCardIndex: 0,
                                       networkCards: [NetworkCard(index: 0, maximumNetworkInterfaces: 3)]))
        let p4 = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.describeInstanceTypesMultiCard) }, clock: clock)
            .describeInstanceType("p4d.24xlarge")
        #expect(p4.maximumNetworkCards == 4)
        #expect(p4.networkCards.map(\.index) == [0, 1, 2, 3])
        #expect(p4.networkCards.allSatisfy { $0.maximumNetworkInterfaces == 15 })
        let t1 = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.describeInstanceTypesNoIPv6) }, clock: clock)
            .describeInstanceType("t1.micro")
        #expect(!t1.ipv6Supported)
        #expect(t1.ipv6AddressesPerInterface == 0)
        #expect(t1.networkCards == [NetworkCard(index: 0, maximumNetworkInterfaces: 2)])
        #expect(throws: AWSError.self) {
            try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.describeInstanceTypes) }, clock: clock)
                .describeInstanceType("c5.xlarge")
        }
    }

    @Test("assign responses: addresses and prefixes EC2 reports")
    func decodeAssign() throws {
        let clock = FakeClock()
        let a = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.assignPrivateIpAddresses) }, clock: clock)
            .assignPrivateIPAddresses(networkInterfaceID: Self.eni, count: 2)
        #expect(a == AssignedPrivateIPs(networkInterfaceID: Self.eni, addresses: ["10.0.2.11", "10.0.2.12"], prefixes: []))
        let p = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.assignIpv4Prefix) }, clock: clock)
            .assignPrivateIPAddresses(networkInterfaceID: Self.eni, prefixCount: 1)
        #expect(p.prefixes == ["10.0.3.16/28"])
        #expect(p.addresses.isEmpty)
        // The documented minimal response (`<return>true</return>` only) decodes to empty lists.
        let minimal = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.returnTrue("AssignPrivateIpAddresses")) },
                                  clock: clock).assignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.11"])
        #expect(minimal.addresses.isEmpty)
        let v6 = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.assignIpv6Addresses) }, clock: clock)
            .assignIPv6Addresses(networkInterfaceID: Self.eni, count: 2)
        #expect(v6 == IPv6Change(networkInterfaceID: Self.eni,
                                 addresses: ["2001:db8:1234:1a00::123", "2001:db8:1234:1a00::456"],
                                 prefixes: ["2001:db8:1234:1a00:9000::/80"]))
        let un = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.unassignIpv6Addresses) }, clock: clock)
            .unassignIPv6Addresses(networkInterfaceID: Self.eni, addresses: ["2001:db8:1234:1a00::123"])
        #expect(un.addresses == ["2001:db8:1234:1a00::123"])
    }

    @Test("create / attach responses")
    func decodeLifecycle() throws {
        let clock = FakeClock()
        let eni = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.createNetworkInterface) }, clock: clock)
            .createNetworkInterface(subnetID: "subnet-9d4a7b6c")
        #expect(eni.id == "eni-cfca76a6")
        #expect(eni.macAddress == "02:74:b0:72:79:61")
        #expect(eni.status == "pending")
        #expect(eni.tags == ["node.k8s.amazonaws.com/no_manage": "true"])
        #expect(eni.primaryIPv4 == "10.0.2.157")
        let a = try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.attachNetworkInterface) }, clock: clock)
            .attachNetworkInterface(networkInterfaceID: "eni-cfca76a6", instanceID: "i-1", deviceIndex: 1)
        #expect(a == AttachResult(attachmentID: "eni-attach-d94b09b0", networkCardIndex: 0))
    }

    @Test("<return>false</return> on a mutation is an error")
    func returnFalse() {
        let clock = FakeClock()
        #expect(throws: AWSError.malformedResponse("DeleteNetworkInterface returned false")) {
            try makeEC2(FakeTransport { _, _ in ok(EC2Fixtures.returnTrue("DeleteNetworkInterface", "false")) },
                        clock: clock).deleteNetworkInterface(id: "eni-1")
        }
    }

    @Test("a 200 that is not XML is a malformed response (not retried)")
    func notXML() {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in text("<html>oops") }
        #expect(throws: AWSError.self) { try makeEC2(t, clock: clock).deleteNetworkInterface(id: "eni-1") }
        #expect(t.requests.count == 1)
    }

    // MARK: Errors

    @Test("EC2 error document: code, message, status, request id (namespace-agnostic)")
    func errorDocument() {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in
            ok("""
                <?xml version="1.0" encoding="UTF-8"?>
                <Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><Errors><Error>\
                <Code>InvalidIPAddress.InUse</Code><Message>Address 10.0.2.11 is in use.</Message></Error></Errors>\
                <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>
                """, status: 400)
        }
        let expected = AWSError.service(code: "InvalidIPAddress.InUse", message: "Address 10.0.2.11 is in use.",
                                        httpStatus: 400, requestID: "ea966190-f9aa-478e-9ede-example")
        #expect(throws: expected) {
            try makeEC2(t, clock: clock).assignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.11"])
        }
        #expect(t.requests.count == 1)
        #expect(expected.description.contains("InvalidIPAddress.InUse"))
    }

    @Test("Query <ErrorResponse> shape and non-XML error bodies")
    func errorShapes() {
        let sts = AWSError.fromErrorResponse(status: 403, body: Array("""
            <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>\
            <Code>AccessDenied</Code><Message>Not authorized</Message></Error><RequestId>abc</RequestId></ErrorResponse>
            """.utf8))
        #expect(sts == .service(code: "AccessDenied", message: "Not authorized", httpStatus: 403, requestID: "abc"))
        let html = AWSError.fromErrorResponse(status: 502, body: Array("<html><body>Bad Gateway</body></html>".utf8),
                                              headers: [("x-amzn-requestid", "hdr-id")])
        #expect(html == .service(code: "HTTP502", message: "", httpStatus: 502, requestID: "hdr-id"))
        #expect(html.isRetryable)
        let empty = AWSError.fromErrorResponse(status: 403, body: [])
        #expect(empty.code == "HTTP403")
        #expect(!empty.isRetryable)
    }

    // MARK: Retries through the client

    @Test("throttled every 2nd call: each call succeeds after one backoff")
    func throttledThenSuccess() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, n in
            n % 2 == 1 ? ec2Error("RequestLimitExceeded", "Request limit exceeded.", status: 503)
                : ok(EC2Fixtures.returnTrue("UnassignPrivateIpAddresses"))
        }
        let ec2 = makeEC2(t, clock: clock)
        try ec2.unassignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.11"])
        try ec2.unassignPrivateIPAddresses(networkInterfaceID: Self.eni, addresses: ["10.0.2.12"])
        #expect(t.requests.count == 4)
        #expect(ec2.attempts == Array(repeating: "UnassignPrivateIpAddresses", count: 4))
        #expect(clock.sleeps == [0.5, 0.5])  // random 0.5 × 1 s (throttling scale)
        #expect(t.bodies[0] == t.bodies[1])  // the retry resends the same body
    }

    @Test("throttled every call: AWS_MAX_ATTEMPTS attempts, then the throttling error (try again later)")
    func throttledAlways() {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ec2Error("RequestLimitExceeded", "Request limit exceeded.", status: 503) }
        let policy = RetryPolicy.resolve(environment: ["AWS_MAX_ATTEMPTS": "4"])
        let ec2 = EC2Client(region: "us-west-2", endpoint: "http://127.0.0.1:5000", transport: t,
                            credentials: { () throws(AWSError) -> AWSCredentials in testCredentials }, clock: clock,
                            random: FixedRandom(0.5), retryPolicy: policy, deadline: Deadline(seconds: 60, clock: clock))
        do throws(AWSError) {
            try ec2.deleteNetworkInterface(id: "eni-1")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == "RequestLimitExceeded")
            #expect(error.isTryAgainLater)
        }
        #expect(t.requests.count == 4)
        #expect(clock.sleeps == [0.5, 1, 2])
    }

    @Test("the deadline bounds the whole call: deadlineExceeded with the AWS code, no sleep past it")
    func deadline() {
        let clock = FakeClock()
        let t = FakeTransport(clock: clock) { _, _ in ec2Error("RequestLimitExceeded", status: 503) }
        t.latency = 0.2
        let ec2 = makeEC2(t, clock: clock, deadline: 2, maxAttempts: 10, random: 0.9)
        let start = clock.monotonic()
        #expect(throws: AWSError.deadlineExceeded(lastError: "RequestLimitExceeded", attempts: 2)) {
            try ec2.deleteNetworkInterface(id: "eni-1")
        }
        #expect(clock.monotonic() - start <= 2)
        // Later calls on the same (exhausted) deadline make no request at all.
        let before = t.requests.count
        #expect(throws: AWSError.self) { try ec2.deleteNetworkInterface(id: "eni-1") }
        #expect(t.requests.count == before || t.requests.count == before + 1)
    }

    @Test("connection failures are retried; 5xx without a document too")
    func transportRetries() throws {
        let clock = FakeClock()
        let t = FakeTransport { _, n in
            switch n {
            case 1: return .failure(.connect("Connection refused"))
            case 2: return text("<html>502</html>", status: 502)
            default: return ok(EC2Fixtures.returnTrue("DeleteNetworkInterface"))
            }
        }
        try makeEC2(t, clock: clock).deleteNetworkInterface(id: "eni-1")
        #expect(t.requests.count == 3)
        #expect(clock.sleeps == [0.025, 0.05])  // non-throttling scale 50 ms × 2^(i-1) × 0.5
    }

    @Test("credential failures stop the call before any request")
    func credentialFailure() {
        let clock = FakeClock()
        let t = FakeTransport { _, _ in ok(EC2Fixtures.returnTrue("DeleteNetworkInterface")) }
        let ec2 = EC2Client(region: "us-west-2", endpoint: "http://127.0.0.1:5000", transport: t,
                            credentials: { () throws(AWSError) -> AWSCredentials in throw .credentials("none found") },
                            clock: clock, random: FixedRandom(0.5), retryPolicy: RetryPolicy(),
                            deadline: Deadline(seconds: 10, clock: clock))
        #expect(throws: AWSError.credentials("none found")) { try ec2.deleteNetworkInterface(id: "eni-1") }
        #expect(t.requests.isEmpty)
    }
}
