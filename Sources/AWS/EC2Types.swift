/// Typed EC2 responses: the fields the plugin uses, decoded from the 2016-11-15 Query API XML (element names as in
/// the API reference / botocore's service model: `networkInterfaceSet/item`, `privateIpAddressesSet/item`, …).
/// Addresses stay strings: the AWS module does not depend on NetTypes; callers parse what they compare.

/// `Filter.N.Name` / `Filter.N.Value.M`.
public struct EC2Filter: Sendable, Equatable {
    public var name: String
    public var values: [String]

    public init(_ name: String, _ values: [String]) {
        self.name = name
        self.values = values
    }

    public init(_ name: String, _ value: String) {
        self.init(name, [value])
    }

    /// `tag:KEY = value`.
    public static func tag(_ key: String, _ value: String) -> EC2Filter { EC2Filter("tag:\(key)", value) }
}

/// A key/value tag (`Tag.N.Key` / `Tag.N.Value`).
public struct EC2Tag: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

public struct NetworkInterfaceAttachment: Sendable, Equatable {
    public var id: String
    public var instanceID: String?
    public var deviceIndex: Int?
    public var networkCardIndex: Int?
    public var deleteOnTermination: Bool?
    /// `attaching` | `attached` | `detaching` | `detached`.
    public var status: String?

    public init(id: String, instanceID: String? = nil, deviceIndex: Int? = nil, networkCardIndex: Int? = nil,
                deleteOnTermination: Bool? = nil, status: String? = nil)
    {
        self.id = id
        self.instanceID = instanceID
        self.deviceIndex = deviceIndex
        self.networkCardIndex = networkCardIndex
        self.deleteOnTermination = deleteOnTermination
        self.status = status
    }
}

public struct PrivateIP: Sendable, Equatable {
    public var address: String
    public var primary: Bool

    public init(address: String, primary: Bool) {
        self.address = address
        self.primary = primary
    }
}

public struct NetworkInterface: Sendable, Equatable {
    public var id: String
    public var subnetID: String?
    public var vpcID: String?
    public var availabilityZone: String?
    /// Lower-case, colon-separated, as EC2 reports it.
    public var macAddress: String?
    /// `available` | `in-use` | `attaching` | `detaching` | `associated`.
    public var status: String?
    public var description: String?
    public var attachment: NetworkInterfaceAttachment?
    /// Primary first when EC2 lists it first (it does).
    public var privateIPs: [PrivateIP]
    public var ipv6Addresses: [String]
    public var ipv4Prefixes: [String]
    public var ipv6Prefixes: [String]
    public var tags: [String: String]
    public var sourceDestCheck: Bool?
    /// Security group ids.
    public var groups: [String]
    public var interfaceType: String?
    public var requesterManaged: Bool?

    public init(id: String, subnetID: String? = nil, vpcID: String? = nil, availabilityZone: String? = nil,
                macAddress: String? = nil, status: String? = nil, description: String? = nil,
                attachment: NetworkInterfaceAttachment? = nil, privateIPs: [PrivateIP] = [],
                ipv6Addresses: [String] = [], ipv4Prefixes: [String] = [], ipv6Prefixes: [String] = [],
                tags: [String: String] = [:], sourceDestCheck: Bool? = nil, groups: [String] = [],
                interfaceType: String? = nil, requesterManaged: Bool? = nil)
    {
        self.id = id
        self.subnetID = subnetID
        self.vpcID = vpcID
        self.availabilityZone = availabilityZone
        self.macAddress = macAddress
        self.status = status
        self.description = description
        self.attachment = attachment
        self.privateIPs = privateIPs
        self.ipv6Addresses = ipv6Addresses
        self.ipv4Prefixes = ipv4Prefixes
        self.ipv6Prefixes = ipv6Prefixes
        self.tags = tags
        self.sourceDestCheck = sourceDestCheck
        self.groups = groups
        self.interfaceType = interfaceType
        self.requesterManaged = requesterManaged
    }

    /// The primary private IPv4 address.
    public var primaryIPv4: String? { privateIPs.first { $0.primary }?.address }
    /// Secondary private IPv4 addresses.
    public var secondaryIPv4s: [String] { privateIPs.filter { !$0.primary }.map(\.address) }
}

public struct Subnet: Sendable, Equatable {
    public var id: String
    public var cidrBlock: String?
    /// Associated IPv6 CIDR blocks (state `associated`/`associating`; disassociated ones are dropped).
    public var ipv6CidrBlocks: [String]
    public var availabilityZone: String?
    public var vpcID: String?
    public var tags: [String: String]

    public init(id: String, cidrBlock: String? = nil, ipv6CidrBlocks: [String] = [], availabilityZone: String? = nil,
                vpcID: String? = nil, tags: [String: String] = [:])
    {
        self.id = id
        self.cidrBlock = cidrBlock
        self.ipv6CidrBlocks = ipv6CidrBlocks
        self.availabilityZone = availabilityZone
        self.vpcID = vpcID
        self.tags = tags
    }
}

public struct Instance: Sendable, Equatable {
    public var id: String
    public var instanceType: String?
    public var availabilityZone: String?
    public var subnetID: String?
    public var vpcID: String?
    public var privateIPAddress: String?
    /// `pending` | `running` | …
    public var state: String?
    /// The attached ENIs as DescribeInstances reports them (no tags, no AZ: use DescribeNetworkInterfaces for those).
    public var networkInterfaces: [NetworkInterface]

    public init(id: String, instanceType: String? = nil, availabilityZone: String? = nil, subnetID: String? = nil,
                vpcID: String? = nil, privateIPAddress: String? = nil, state: String? = nil,
                networkInterfaces: [NetworkInterface] = [])
    {
        self.id = id
        self.instanceType = instanceType
        self.availabilityZone = availabilityZone
        self.subnetID = subnetID
        self.vpcID = vpcID
        self.privateIPAddress = privateIPAddress
        self.state = state
        self.networkInterfaces = networkInterfaces
    }
}

public struct NetworkCard: Sendable, Equatable {
    public var index: Int
    public var maximumNetworkInterfaces: Int

    public init(index: Int, maximumNetworkInterfaces: Int) {
        self.index = index
        self.maximumNetworkInterfaces = maximumNetworkInterfaces
    }
}

/// `DescribeInstanceTypes` → `networkInfo`: the per-instance-type ENI and address limits.
public struct InstanceTypeInfo: Sendable, Equatable {
    public var instanceType: String
    public var maximumNetworkInterfaces: Int
    public var ipv4AddressesPerInterface: Int
    public var ipv6AddressesPerInterface: Int
    public var ipv6Supported: Bool
    public var maximumNetworkCards: Int
    public var defaultNetworkCardIndex: Int
    public var networkCards: [NetworkCard]

    public init(instanceType: String, maximumNetworkInterfaces: Int, ipv4AddressesPerInterface: Int,
                ipv6AddressesPerInterface: Int, ipv6Supported: Bool, maximumNetworkCards: Int = 1,
                defaultNetworkCardIndex: Int = 0, networkCards: [NetworkCard] = [])
    {
        self.instanceType = instanceType
        self.maximumNetworkInterfaces = maximumNetworkInterfaces
        self.ipv4AddressesPerInterface = ipv4AddressesPerInterface
        self.ipv6AddressesPerInterface = ipv6AddressesPerInterface
        self.ipv6Supported = ipv6Supported
        self.maximumNetworkCards = maximumNetworkCards
        self.defaultNetworkCardIndex = defaultNetworkCardIndex
        self.networkCards = networkCards
    }
}

/// What an assign/unassign call reports changed on an ENI (`AssignPrivateIpAddresses`, `AssignIpv6Addresses`,
/// `UnassignIpv6Addresses`). AWS lists only the new addresses; moto lists all: confirm, don't trust.
public struct AddressChange: Sendable, Equatable {
    public var networkInterfaceID: String?
    public var addresses: [String]
    public var prefixes: [String]

    public init(networkInterfaceID: String?, addresses: [String], prefixes: [String]) {
        self.networkInterfaceID = networkInterfaceID
        self.addresses = addresses
        self.prefixes = prefixes
    }
}

public typealias AssignedPrivateIPs = AddressChange
public typealias IPv6Change = AddressChange

/// `AttachNetworkInterface` result.
public struct AttachResult: Sendable, Equatable {
    public var attachmentID: String
    public var networkCardIndex: Int?

    public init(attachmentID: String, networkCardIndex: Int?) {
        self.attachmentID = attachmentID
        self.networkCardIndex = networkCardIndex
    }
}

// MARK: - Decoding

enum EC2Decode {
    static func int(_ e: XMLElement, _ name: String) -> Int? {
        e.string(name).flatMap { Int($0.trimmingASCIIWhitespace()) }
    }

    static func bool(_ e: XMLElement, _ name: String) -> Bool? {
        switch e.string(name)?.trimmingASCIIWhitespace().lowercased() {
        case "true": return true
        case "false": return false
        default: return nil
        }
    }

    static func nonEmpty(_ e: XMLElement, _ name: String) -> String? {
        guard let s = e.string(name)?.trimmingASCIIWhitespace(), !s.isEmpty else { return nil }
        return s
    }

    static func tags(_ e: XMLElement) -> [String: String] {
        var out: [String: String] = [:]
        for item in e.items("tagSet") {
            if let k = item.string("key") { out[k] = item.string("value") ?? "" }
        }
        return out
    }

    /// Decodes both `NetworkInterface` (DescribeNetworkInterfaces, CreateNetworkInterface) and
    /// `InstanceNetworkInterface` (DescribeInstances): the element names coincide for every field used here.
    static func networkInterface(_ e: XMLElement) throws(AWSError) -> NetworkInterface {
        guard let id = nonEmpty(e, "networkInterfaceId") else {
            throw .malformedResponse("network interface without networkInterfaceId")
        }
        var attachment: NetworkInterfaceAttachment? = nil
        if let a = e.child("attachment"), let aid = nonEmpty(a, "attachmentId") {
            attachment = NetworkInterfaceAttachment(
                id: aid, instanceID: nonEmpty(a, "instanceId"), deviceIndex: int(a, "deviceIndex"),
                networkCardIndex: int(a, "networkCardIndex"), deleteOnTermination: bool(a, "deleteOnTermination"),
                status: nonEmpty(a, "status"))
        }
        var privateIPs: [PrivateIP] = e.items("privateIpAddressesSet").compactMap { item in
            nonEmpty(item, "privateIpAddress").map { PrivateIP(address: $0, primary: bool(item, "primary") ?? false) }
        }
        if privateIPs.isEmpty, let only = nonEmpty(e, "privateIpAddress") {
            privateIPs = [PrivateIP(address: only, primary: true)]
        }
        return NetworkInterface(
            id: id, subnetID: nonEmpty(e, "subnetId"), vpcID: nonEmpty(e, "vpcId"),
            availabilityZone: nonEmpty(e, "availabilityZone"),
            macAddress: nonEmpty(e, "macAddress")?.lowercased(), status: nonEmpty(e, "status"),
            description: e.string("description"), attachment: attachment, privateIPs: privateIPs,
            ipv6Addresses: e.items("ipv6AddressesSet").compactMap { nonEmpty($0, "ipv6Address") },
            ipv4Prefixes: e.items("ipv4PrefixSet").compactMap { nonEmpty($0, "ipv4Prefix") },
            ipv6Prefixes: e.items("ipv6PrefixSet").compactMap { nonEmpty($0, "ipv6Prefix") },
            tags: tags(e), sourceDestCheck: bool(e, "sourceDestCheck"),
            groups: e.items("groupSet").compactMap { nonEmpty($0, "groupId") },
            interfaceType: nonEmpty(e, "interfaceType"), requesterManaged: bool(e, "requesterManaged"))
    }

    static func subnet(_ e: XMLElement) throws(AWSError) -> Subnet {
        guard let id = nonEmpty(e, "subnetId") else { throw .malformedResponse("subnet without subnetId") }
        let v6 = e.items("ipv6CidrBlockAssociationSet").compactMap { item -> String? in
            let state = item.path("ipv6CidrBlockState", "state")?.text.trimmingASCIIWhitespace()
            if let state, state != "associated" && state != "associating" { return nil }
            return nonEmpty(item, "ipv6CidrBlock")
        }
        return Subnet(id: id, cidrBlock: nonEmpty(e, "cidrBlock"), ipv6CidrBlocks: v6,
                      availabilityZone: nonEmpty(e, "availabilityZone"), vpcID: nonEmpty(e, "vpcId"), tags: tags(e))
    }

    static func instance(_ e: XMLElement) throws(AWSError) -> Instance {
        guard let id = nonEmpty(e, "instanceId") else { throw .malformedResponse("instance without instanceId") }
        var enis: [NetworkInterface] = []
        for item in e.items("networkInterfaceSet") { enis.append(try networkInterface(item)) }
        return Instance(
            id: id, instanceType: nonEmpty(e, "instanceType"),
            availabilityZone: e.child("placement").flatMap { nonEmpty($0, "availabilityZone") },
            subnetID: nonEmpty(e, "subnetId"), vpcID: nonEmpty(e, "vpcId"),
            privateIPAddress: nonEmpty(e, "privateIpAddress"),
            state: e.child("instanceState").flatMap { nonEmpty($0, "name") }, networkInterfaces: enis)
    }

    static func instanceType(_ e: XMLElement) throws(AWSError) -> InstanceTypeInfo {
        guard let name = nonEmpty(e, "instanceType") else {
            throw .malformedResponse("instance type without instanceType")
        }
        guard let n = e.child("networkInfo"), let maxENIs = int(n, "maximumNetworkInterfaces"),
            let v4 = int(n, "ipv4AddressesPerInterface")
        else {
            throw .malformedResponse("instance type \(name) without networkInfo limits")
        }
        let cards = n.items("networkCards").compactMap { c -> NetworkCard? in
            guard let i = int(c, "networkCardIndex"), let m = int(c, "maximumNetworkInterfaces") else { return nil }
            return NetworkCard(index: i, maximumNetworkInterfaces: m)
        }
        return InstanceTypeInfo(
            instanceType: name, maximumNetworkInterfaces: maxENIs, ipv4AddressesPerInterface: v4,
            ipv6AddressesPerInterface: int(n, "ipv6AddressesPerInterface") ?? 0,
            ipv6Supported: bool(n, "ipv6Supported") ?? false,
            maximumNetworkCards: int(n, "maximumNetworkCards") ?? max(cards.count, 1),
            defaultNetworkCardIndex: int(n, "defaultNetworkCardIndex") ?? 0,
            networkCards: cards.isEmpty ? [NetworkCard(index: 0, maximumNetworkInterfaces: maxENIs)] : cards)
    }
}
