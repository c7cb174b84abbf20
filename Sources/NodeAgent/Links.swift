import AWS
import Netlink
import NetTypes

/// A network link of the node, as the agent needs it.
public struct NodeLink: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var mac: String
    public var isUp: Bool

    public init(index: Int32, name: String, mac: String, isUp: Bool) {
        self.index = index
        self.name = name
        self.mac = mac
        self.isUp = isUp
    }
}

/// The link side of attach/status: find a link by MAC, bring it up, set a sysctl.
public protocol LinkOperations {
    /// The link whose MAC (or permanent MAC) is `mac`, if any.
    func link(mac: String) throws(NodeError) -> NodeLink?
    func setUp(_ link: NodeLink) throws(NodeError)
    func writeSysctl(_ key: String, _ value: String) throws(NodeError)
}

extension LinkOperations {
    /// Polls for the link until `timeout` seconds passed (a hot-plugged ENI appears a few seconds after the
    /// attachment).
    public func waitForLink(mac: String, timeout: Double, clock: any AWSClock, interval: Double = 0.2)
        throws(NodeError) -> NodeLink
    {
        let end = clock.monotonic() + timeout
        while true {
            if let l = try link(mac: mac) { return l }
            if clock.monotonic() >= end {
                throw .link("no link with MAC \(mac) appeared within \(Int(timeout)) s of the attachment")
            }
            clock.sleep(seconds: interval)
        }
    }
}

/// rtnetlink in the calling thread's network namespace (the DaemonSet runs with hostNetwork) and `/proc/sys`.
public struct LiveLinkOperations: LinkOperations {
    public var sysctlRoot: String

    public init(sysctlRoot: String = "/proc/sys") { self.sysctlRoot = sysctlRoot }

    public func link(mac: String) throws(NodeError) -> NodeLink? {
        guard let want = MACAddress(mac) else { throw .link("\"\(mac)\" is not a MAC address") }
        do {
            let sock = try RouteSocket()
            let all = try sock.links()
            // ipvlan slaves carry their master's MAC: never take one of them for the ENI.
            let candidates = all.filter { $0.kind != "ipvlan" && $0.kind != "ipvtap" }
            guard let l = candidates.first(where: { $0.hardwareAddress == want && $0.kind == nil })
                ?? candidates.first(where: { $0.hardwareAddress == want })
                ?? candidates.first(where: { $0.permanentAddress == want })
            else { return nil }
            return NodeLink(index: l.index, name: l.name, mac: want.description, isUp: l.isUp)
        } catch {
            throw .link("list links: \(error)")
        }
    }

    public func setUp(_ link: NodeLink) throws(NodeError) {
        do {
            let sock = try RouteSocket()
            try sock.setLink(index: link.index, LinkChange(up: true))
        } catch {
            throw .link("set \(link.name) up: \(error)")
        }
    }

    public func writeSysctl(_ key: String, _ value: String) throws(NodeError) {
        do { try Sysctl.write(key, value, root: sysctlRoot) } catch { throw .link("sysctl \(key)=\(value): \(error)") }
    }
}
