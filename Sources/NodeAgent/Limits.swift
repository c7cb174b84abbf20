import AWS
import NodeState

/// Where the next ENI goes: a free (network card, device index) pair.
public struct Placement: Sendable, Equatable {
    public var networkCard: Int
    public var deviceIndex: Int
    /// Send `NetworkCardIndex` (only for instance types with several network cards).
    public var sendsNetworkCard: Bool

    public init(networkCard: Int, deviceIndex: Int, sendsNetworkCard: Bool) {
        self.networkCard = networkCard
        self.deviceIndex = deviceIndex
        self.sendsNetworkCard = sendsNetworkCard
    }
}

/// The ENI/IP limits of the instance type and what the multus ENIs leave to the VPC CNI.
public struct NodeLimits: Sendable, Equatable {
    public var instanceType: String
    public var maximumNetworkInterfaces: Int
    public var ipv4PerInterface: Int
    public var ipv6PerInterface: Int
    public var networkCards: [NetworkCard]
    public var defaultNetworkCard: Int
    /// ENIs on the VPC CNI's card (the default card) that it may not use (`no_manage=true`: ours and others').
    public var unmanagedOnDefaultCard: Int

    public init(info: InstanceTypeInfo, attached: [NetworkInterface]) {
        instanceType = info.instanceType
        maximumNetworkInterfaces = info.maximumNetworkInterfaces
        ipv4PerInterface = info.ipv4AddressesPerInterface
        ipv6PerInterface = info.ipv6AddressesPerInterface
        networkCards = info.networkCards
        defaultNetworkCard = info.defaultNetworkCardIndex
        unmanagedOnDefaultCard = attached.filter {
            ($0.attachment?.networkCardIndex ?? 0) == info.defaultNetworkCardIndex
                && $0.tags[NodeTags.noManage] == "true"
        }.count
    }

    /// ENIs the VPC CNI may attach on its (default) card.
    public var enisForVPCCNI: Int {
        let cardMax = networkCards.first { $0.index == defaultNetworkCard }?.maximumNetworkInterfaces
            ?? maximumNetworkInterfaces
        return max(0, cardMax - unmanagedOnDefaultCard)
    }

    /// The VPC CNI's max-pods figure with these ENIs gone: ENIs left × (IPv4 per ENI − 1) + 2 (the primary
    /// address of each ENI is not a pod's; +2 for the host-network pods, as EKS's eni-max-pods table does).
    public var vpcCNIMaxPods: Int { Self.maxPods(enis: enisForVPCCNI, ipv4PerENI: ipv4PerInterface) }

    /// The figure without any unmanaged ENI (what the node would have had).
    public var vpcCNIMaxPodsWithoutMultus: Int {
        let cardMax = networkCards.first { $0.index == defaultNetworkCard }?.maximumNetworkInterfaces
            ?? maximumNetworkInterfaces
        return Self.maxPods(enis: cardMax, ipv4PerENI: ipv4PerInterface)
    }

    public static func maxPods(enis: Int, ipv4PerENI: Int) -> Int {
        enis * max(0, ipv4PerENI - 1) + 2
    }
}

public enum PlacementPolicy {
    /// Picks a free (card, device index) for a new ENI. Device index 0 is the primary's; indexes are unique per
    /// card. On a multi-card type a non-default card with room is preferred (the VPC CNI uses the default card, so
    /// a multus ENI there costs it nothing); otherwise the default card.
    public static func next(info: InstanceTypeInfo, attached: [NetworkInterface], planned: [Placement] = [])
        throws(NodeError) -> Placement
    {
        var used: [Int: Set<Int>] = [:]
        for n in attached {
            guard let a = n.attachment, let dev = a.deviceIndex else { continue }
            used[a.networkCardIndex ?? 0, default: []].insert(dev)
        }
        for p in planned { used[p.networkCard, default: []].insert(p.deviceIndex) }
        let multiCard = info.maximumNetworkCards > 1 && info.networkCards.count > 1
        let cards = multiCard ? info.networkCards : [NetworkCard(index: 0, maximumNetworkInterfaces: info.maximumNetworkInterfaces)]
        let ordered = cards.filter { $0.index != info.defaultNetworkCardIndex }.sorted { $0.index < $1.index }
            + cards.filter { $0.index == info.defaultNetworkCardIndex || !multiCard }
        let totalUsed = used.values.reduce(0) { $0 + $1.count }
        guard totalUsed < info.maximumNetworkInterfaces else {
            throw .state("\(info.instanceType) takes at most \(info.maximumNetworkInterfaces) ENIs and \(totalUsed) are attached")
        }
        for card in (multiCard ? ordered : cards) {
            let taken = used[card.index] ?? []
            guard taken.count < card.maximumNetworkInterfaces else { continue }
            var dev = 1
            while taken.contains(dev) { dev += 1 }
            return Placement(networkCard: card.index, deviceIndex: dev, sendsNetworkCard: multiCard)
        }
        throw .state("no network card of \(info.instanceType) has room for another ENI")
    }
}
