// Response documents written by hand after the EC2 API reference examples (2016-11-15 namespace, element names
// as in the service model), trimmed to what the client reads plus a few fields it must skip over.
enum EC2Fixtures {
    static let ns = "http://ec2.amazonaws.com/doc/2016-11-15/"

    /// After the DescribeNetworkInterfaces example: a primary ENI and a secondary, tagged ENI with IPv6 and prefixes.
    static let describeNetworkInterfaces = """
        <?xml version="1.0" encoding="UTF-8"?>
        <DescribeNetworkInterfacesResponse xmlns="\(ns)">
            <requestId>fc45294c-006b-457b-bab9-012f5b3b0e40</requestId>
            <networkInterfaceSet>
                <item>
                    <networkInterfaceId>eni-0f62d866</networkInterfaceId>
                    <subnetId>subnet-c53c87ac</subnetId>
                    <vpcId>vpc-cc3c87a5</vpcId>
                    <availabilityZone>ap-southeast-1b</availabilityZone>
                    <description/>
                    <ownerId>053230519467</ownerId>
                    <requesterManaged>false</requesterManaged>
                    <status>in-use</status>
                    <macAddress>02:81:60:cb:27:37</macAddress>
                    <privateIpAddress>10.0.0.146</privateIpAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>sg-3f4b5653</groupId>
                            <groupName>default</groupName>
                        </item>
                    </groupSet>
                    <attachment>
                        <attachmentId>eni-attach-6537fc0c</attachmentId>
                        <instanceId>i-22197876</instanceId>
                        <instanceOwnerId>053230519467</instanceOwnerId>
                        <deviceIndex>0</deviceIndex>
                        <status>attached</status>
                        <attachTime>2012-07-01T21:45:27.000Z</attachTime>
                        <deleteOnTermination>true</deleteOnTermination>
                    </attachment>
                    <tagSet/>
                    <privateIpAddressesSet>
                        <item>
                            <privateIpAddress>10.0.0.146</privateIpAddress>
                            <primary>true</primary>
                        </item>
                        <item>
                            <privateIpAddress>10.0.0.148</privateIpAddress>
                            <primary>false</primary>
                        </item>
                        <item>
                            <privateIpAddress>10.0.0.150</privateIpAddress>
                            <primary>false</primary>
                        </item>
                    </privateIpAddressesSet>
                    <ipv6AddressesSet/>
                    <interfaceType>interface</interfaceType>
                </item>
                <item>
                    <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
                    <subnetId>subnet-9d4a7b6c</subnetId>
                    <vpcId>vpc-cc3c87a5</vpcId>
                    <availabilityZone>ap-southeast-1b</availabilityZone>
                    <description>eni-multus secondary &amp; friends</description>
                    <ownerId>053230519467</ownerId>
                    <requesterManaged>false</requesterManaged>
                    <status>in-use</status>
                    <macAddress>0A:1B:2C:3D:4E:5F</macAddress>
                    <privateIpAddress>10.0.2.10</privateIpAddress>
                    <sourceDestCheck>false</sourceDestCheck>
                    <groupSet>
                        <item><groupId>sg-903004f8</groupId><groupName>multus</groupName></item>
                        <item><groupId>sg-1a2b3c4d</groupId><groupName>pods</groupName></item>
                    </groupSet>
                    <attachment>
                        <attachmentId>eni-attach-66c4350a</attachmentId>
                        <instanceId>i-1234567890abcdef0</instanceId>
                        <instanceOwnerId>053230519467</instanceOwnerId>
                        <deviceIndex>1</deviceIndex>
                        <networkCardIndex>0</networkCardIndex>
                        <status>attached</status>
                        <attachTime>2024-03-01T10:00:00.000Z</attachTime>
                        <deleteOnTermination>false</deleteOnTermination>
                    </attachment>
                    <tagSet>
                        <item><key>node.k8s.amazonaws.com/no_manage</key><value>true</value></item>
                        <item><key>eni-multus/cluster</key><value>demo</value></item>
                        <item><key>empty</key><value/></item>
                    </tagSet>
                    <privateIpAddressesSet>
                        <item>
                            <privateIpAddress>10.0.2.10</privateIpAddress>
                            <privateDnsName>ip-10-0-2-10.ap-southeast-1.compute.internal</privateDnsName>
                            <primary>true</primary>
                        </item>
                        <item>
                            <privateIpAddress>10.0.2.11</privateIpAddress>
                            <primary>false</primary>
                        </item>
                    </privateIpAddressesSet>
                    <ipv4PrefixSet>
                        <item><ipv4Prefix>10.0.3.16/28</ipv4Prefix></item>
                    </ipv4PrefixSet>
                    <ipv6AddressesSet>
                        <item><ipv6Address>2001:db8:1234:1a00::123</ipv6Address><isPrimaryIpv6>false</isPrimaryIpv6></item>
                        <item><ipv6Address>2001:db8:1234:1a00::456</ipv6Address></item>
                    </ipv6AddressesSet>
                    <ipv6PrefixSet>
                        <item><ipv6Prefix>2001:db8:1234:1a00:9000::/80</ipv6Prefix></item>
                    </ipv6PrefixSet>
                    <interfaceType>interface</interfaceType>
                </item>
            </networkInterfaceSet>
        </DescribeNetworkInterfacesResponse>
        """

    static func page(_ ids: [String], next: String?) -> String {
        let items = ids.map { "<item><networkInterfaceId>\($0)</networkInterfaceId><status>available</status></item>" }
        return """
            <DescribeNetworkInterfacesResponse xmlns="\(ns)"><requestId>r</requestId>\
            <networkInterfaceSet>\(items.joined())</networkInterfaceSet>\
            \(next.map { "<nextToken>\($0)</nextToken>" } ?? "")</DescribeNetworkInterfacesResponse>
            """
    }

    /// After the DescribeSubnets example, with an IPv6 association (and a disassociated one to skip).
    static let describeSubnets = """
        <DescribeSubnetsResponse xmlns="\(ns)">
          <requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>
          <subnetSet>
            <item>
              <subnetId>subnet-9d4a7b6c</subnetId>
              <state>available</state>
              <vpcId>vpc-1a2b3c4d</vpcId>
              <cidrBlock>10.0.1.0/24</cidrBlock>
              <ipv6CidrBlockAssociationSet>
                <item>
                  <ipv6CidrBlock>2001:db8:1234:1a00::/64</ipv6CidrBlock>
                  <associationId>subnet-cidr-assoc-3aa54053</associationId>
                  <ipv6CidrBlockState><state>associated</state></ipv6CidrBlockState>
                </item>
                <item>
                  <ipv6CidrBlock>2001:db8:1234:1b00::/64</ipv6CidrBlock>
                  <associationId>subnet-cidr-assoc-00000000</associationId>
                  <ipv6CidrBlockState><state>disassociated</state></ipv6CidrBlockState>
                </item>
              </ipv6CidrBlockAssociationSet>
              <availableIpAddressCount>251</availableIpAddressCount>
              <availabilityZone>us-east-1a</availabilityZone>
              <defaultForAz>false</defaultForAz>
              <mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>
              <tagSet><item><key>Name</key><value>multus-a</value></item></tagSet>
            </item>
          </subnetSet>
        </DescribeSubnetsResponse>
        """

    /// After the DescribeInstances example (one reservation, one instance, two ENIs).
    static let describeInstances = """
        <DescribeInstancesResponse xmlns="\(ns)">
          <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
          <reservationSet>
            <item>
              <reservationId>r-1234567890abcdef0</reservationId>
              <ownerId>123456789012</ownerId>
              <groupSet/>
              <instancesSet>
                <item>
                  <instanceId>i-1234567890abcdef0</instanceId>
                  <imageId>ami-bff32ccc</imageId>
                  <instanceState><code>16</code><name>running</name></instanceState>
                  <privateDnsName>ip-192-168-1-88.eu-west-1.compute.internal</privateDnsName>
                  <instanceType>m5.large</instanceType>
                  <placement>
                    <availabilityZone>eu-west-1c</availabilityZone>
                    <groupName/>
                    <tenancy>default</tenancy>
                  </placement>
                  <subnetId>subnet-56f5f633</subnetId>
                  <vpcId>vpc-11112222</vpcId>
                  <privateIpAddress>192.168.1.88</privateIpAddress>
                  <networkInterfaceSet>
                    <item>
                      <networkInterfaceId>eni-12345678</networkInterfaceId>
                      <subnetId>subnet-56f5f633</subnetId>
                      <vpcId>vpc-11112222</vpcId>
                      <description>Primary network interface</description>
                      <ownerId>123456789012</ownerId>
                      <status>in-use</status>
                      <macAddress>02:dd:2c:5e:01:69</macAddress>
                      <privateIpAddress>192.168.1.88</privateIpAddress>
                      <sourceDestCheck>true</sourceDestCheck>
                      <groupSet><item><groupId>sg-e4076980</groupId><groupName>SecurityGroup1</groupName></item></groupSet>
                      <attachment>
                        <attachmentId>eni-attach-606d5f09</attachmentId>
                        <deviceIndex>0</deviceIndex>
                        <status>attached</status>
                        <attachTime>2015-12-22T10:44:05.000Z</attachTime>
                        <deleteOnTermination>true</deleteOnTermination>
                        <networkCardIndex>0</networkCardIndex>
                      </attachment>
                      <privateIpAddressesSet>
                        <item><privateIpAddress>192.168.1.88</privateIpAddress><primary>true</primary></item>
                      </privateIpAddressesSet>
                      <ipv6AddressesSet><item><ipv6Address>2001:db8:1234:1a2b::123</ipv6Address></item></ipv6AddressesSet>
                    </item>
                    <item>
                      <networkInterfaceId>eni-87654321</networkInterfaceId>
                      <subnetId>subnet-9d4a7b6c</subnetId>
                      <status>in-use</status>
                      <macAddress>02:dd:2c:5e:01:70</macAddress>
                      <attachment>
                        <attachmentId>eni-attach-707d5f10</attachmentId>
                        <deviceIndex>1</deviceIndex>
                        <status>attached</status>
                        <deleteOnTermination>false</deleteOnTermination>
                      </attachment>
                      <privateIpAddressesSet>
                        <item><privateIpAddress>10.0.1.20</privateIpAddress><primary>true</primary></item>
                      </privateIpAddressesSet>
                    </item>
                  </networkInterfaceSet>
                </item>
              </instancesSet>
            </item>
          </reservationSet>
        </DescribeInstancesResponse>
        """

    /// m5.large as DescribeInstanceTypes reports it (3 ENIs, 10 IPv4 and 10 IPv6 per ENI).
    static let describeInstanceTypes = """
        <DescribeInstanceTypesResponse xmlns="\(ns)">
          <requestId>b5d3f1b6-example</requestId>
          <instanceTypeSet>
            <item>
              <instanceType>m5.large</instanceType>
              <currentGeneration>true</currentGeneration>
              <vCpuInfo><defaultVCpus>2</defaultVCpus></vCpuInfo>
              <networkInfo>
                <networkPerformance>Up to 10 Gigabit</networkPerformance>
                <maximumNetworkInterfaces>3</maximumNetworkInterfaces>
                <maximumNetworkCards>1</maximumNetworkCards>
                <defaultNetworkCardIndex>0</defaultNetworkCardIndex>
                <networkCards>
                  <item>
                    <networkCardIndex>0</networkCardIndex>
                    <networkPerformance>Up to 10 Gigabit</networkPerformance>
                    <maximumNetworkInterfaces>3</maximumNetworkInterfaces>
                    <baselineBandwidthInGbps>0.75</baselineBandwidthInGbps>
                    <peakBandwidthInGbps>10.0</peakBandwidthInGbps>
                  </item>
                </networkCards>
                <ipv4AddressesPerInterface>10</ipv4AddressesPerInterface>
                <ipv6AddressesPerInterface>10</ipv6AddressesPerInterface>
                <ipv6Supported>true</ipv6Supported>
                <enaSupport>required</enaSupport>
                <efaSupported>false</efaSupported>
                <encryptionInTransitSupported>false</encryptionInTransitSupported>
              </networkInfo>
            </item>
          </instanceTypeSet>
        </DescribeInstanceTypesResponse>
        """

    /// A multi-card type (p4d.24xlarge: 4 cards × 15 ENIs).
    static let describeInstanceTypesMultiCard = """
        <DescribeInstanceTypesResponse xmlns="\(ns)"><requestId>x</requestId><instanceTypeSet><item>
          <instanceType>p4d.24xlarge</instanceType>
          <networkInfo>
            <maximumNetworkInterfaces>60</maximumNetworkInterfaces>
            <maximumNetworkCards>4</maximumNetworkCards>
            <defaultNetworkCardIndex>0</defaultNetworkCardIndex>
            <networkCards>
              <item><networkCardIndex>0</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
              <item><networkCardIndex>1</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
              <item><networkCardIndex>2</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
              <item><networkCardIndex>3</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
            </networkCards>
            <ipv4AddressesPerInterface>50</ipv4AddressesPerInterface>
            <ipv6AddressesPerInterface>50</ipv6AddressesPerInterface>
            <ipv6Supported>true</ipv6Supported>
          </networkInfo>
        </item></instanceTypeSet></DescribeInstanceTypesResponse>
        """

    /// A type without IPv6 (t1.micro-like: no ipv6AddressesPerInterface element).
    static let describeInstanceTypesNoIPv6 = """
        <DescribeInstanceTypesResponse xmlns="\(ns)"><requestId>x</requestId><instanceTypeSet><item>
          <instanceType>t1.micro</instanceType>
          <networkInfo>
            <maximumNetworkInterfaces>2</maximumNetworkInterfaces>
            <ipv4AddressesPerInterface>2</ipv4AddressesPerInterface>
            <ipv6Supported>false</ipv6Supported>
          </networkInfo>
        </item></instanceTypeSet></DescribeInstanceTypesResponse>
        """

    static let assignPrivateIpAddresses = """
        <AssignPrivateIpAddressesResponse xmlns="\(ns)">
          <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
          <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
          <assignedPrivateIpAddressesSet>
            <item><privateIpAddress>10.0.2.11</privateIpAddress></item>
            <item><privateIpAddress>10.0.2.12</privateIpAddress></item>
          </assignedPrivateIpAddressesSet>
          <assignedIpv4PrefixSet/>
          <return>true</return>
        </AssignPrivateIpAddressesResponse>
        """

    static let assignIpv4Prefix = """
        <AssignPrivateIpAddressesResponse xmlns="\(ns)">
          <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
          <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
          <assignedPrivateIpAddressesSet/>
          <assignedIpv4PrefixSet><item><ipv4Prefix>10.0.3.16/28</ipv4Prefix></item></assignedIpv4PrefixSet>
        </AssignPrivateIpAddressesResponse>
        """

    static let assignIpv6Addresses = """
        <AssignIpv6AddressesResponse xmlns="\(ns)">
          <requestId>c36d17eb-a0ba-4d38-8727-example</requestId>
          <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
          <assignedIpv6Addresses>
            <item>2001:db8:1234:1a00::123</item>
            <item>2001:db8:1234:1a00::456</item>
          </assignedIpv6Addresses>
          <assignedIpv6PrefixSet><item>2001:db8:1234:1a00:9000::/80</item></assignedIpv6PrefixSet>
        </AssignIpv6AddressesResponse>
        """

    static let unassignIpv6Addresses = """
        <UnassignIpv6AddressesResponse xmlns="\(ns)">
          <requestId>94d446d7-fc8e-4918-94f9-example</requestId>
          <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
          <unassignedIpv6Addresses><item>2001:db8:1234:1a00::123</item></unassignedIpv6Addresses>
        </UnassignIpv6AddressesResponse>
        """

    static func returnTrue(_ action: String, _ value: String = "true") -> String {
        "<\(action)Response xmlns=\"\(ns)\"><requestId>59dbff89-example</requestId><return>\(value)</return></\(action)Response>"
    }

    /// After the CreateNetworkInterface example.
    static let createNetworkInterface = """
        <CreateNetworkInterfaceResponse xmlns="\(ns)">
          <requestId>8dbe591e-5a22-48cb-b948-example</requestId>
          <networkInterface>
            <networkInterfaceId>eni-cfca76a6</networkInterfaceId>
            <subnetId>subnet-9d4a7b6c</subnetId>
            <vpcId>vpc-1a2b3c4d</vpcId>
            <availabilityZone>ap-southeast-1b</availabilityZone>
            <description>eni-multus secondary</description>
            <ownerId>251839141158</ownerId>
            <requesterManaged>false</requesterManaged>
            <status>pending</status>
            <macAddress>02:74:b0:72:79:61</macAddress>
            <privateIpAddress>10.0.2.157</privateIpAddress>
            <sourceDestCheck>true</sourceDestCheck>
            <groupSet><item><groupId>sg-903004f8</groupId><groupName>default</groupName></item></groupSet>
            <tagSet><item><key>node.k8s.amazonaws.com/no_manage</key><value>true</value></item></tagSet>
            <privateIpAddressesSet>
              <item><privateIpAddress>10.0.2.157</privateIpAddress><primary>true</primary></item>
            </privateIpAddressesSet>
            <ipv6AddressesSet/>
          </networkInterface>
        </CreateNetworkInterfaceResponse>
        """

    static let attachNetworkInterface = """
        <AttachNetworkInterfaceResponse xmlns="\(ns)">
          <requestId>ace8cd1e-e685-4e44-90fb-92014d907212</requestId>
          <attachmentId>eni-attach-d94b09b0</attachmentId>
          <networkCardIndex>0</networkCardIndex>
        </AttachNetworkInterfaceResponse>
        """
}
