#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import NetTypes
import NodeState
import Platform

// The one release path of EC2 registration: DEL, GC, the queue's drain and the node agent's reconcile all end here.

/// Releases what an attachment registered, only where it is still on our ENI (a pod that moved to another node
/// keeps its address) and not held by another live attachment of this node. Where the ENI is on this instance
/// (`mac` known and listed by IMDS) "still on our ENI" is read from IMDS, so the release is one EC2 call; else,
/// or when that call fails with a client error, from EC2 (Describe).
public func releaseAddresses(_ addresses: [IPAddress], from eniID: String, mac: MACAddress? = nil, keep: Set<IPAddress>,
                             gateway: EC2Gateway) throws {
    func release(_ present: Set<IPAddress>) throws {
        try gateway.unassign(addresses.filter { present.contains($0) && !keep.contains($0) }, from: eniID)
    }
    if let mac, let local = try? gateway.localAddresses(mac: mac), !local.isEmpty {
        do { return try release(Set(local)) } catch let e as EC2CallFailure where !e.retryable { /* describe below */ }
    }
    guard let eni = try gateway.describe(ids: [eniID]).first else { return }
    try release(Set(eni.ipv4 + eni.ipv6))
}

