import AWS

/// Where the node agent reads and writes on the host. Everything is below `hostRoot` (the DaemonSet mounts the
/// host's `/` parts at `/host`; tests use a temporary directory), so nothing touches a fixed path implicitly.
public struct NodePaths: Sendable, Equatable {
    /// Prefix of every host path (`""` when running directly on the host).
    public var hostRoot: String
    /// systemd-networkd drop-in directory, relative to `hostRoot`.
    public var networkdDir: String
    /// Per-ENI records (what this agent has fully configured), relative to `hostRoot`.
    public var stateDir: String
    /// `/proc/sys` of the node's network namespace (not below `hostRoot`: the DaemonSet runs in the host netns).
    public var sysctlRoot: String

    public init(hostRoot: String = "", networkdDir: String = "/etc/systemd/network",
                stateDir: String = "/var/lib/eni-multus-node", sysctlRoot: String = "/proc/sys")
    {
        var r = hostRoot
        while r.hasSuffix("/") { r.removeLast() }
        self.hostRoot = r
        self.networkdDir = networkdDir
        self.stateDir = stateDir
        self.sysctlRoot = sysctlRoot
    }

    public func host(_ path: String) -> String { hostRoot + (path.hasPrefix("/") ? path : "/" + path) }
    public var networkdPath: String { host(networkdDir) }
    public var statePath: String { host(stateDir) + "/enis" }
}

/// The EC2 and IMDS clients of one command (`AWSClients`: one transport, one deadline, one credential chain).
public final class AWSSession {
    public let imds: IMDSClient
    public let ec2: EC2Client

    public init(environment: [String: String], timeoutSeconds: Double, clock: any AWSClock,
                transport: any HTTPTransport, random: any AWSRandom = SystemRandom()) throws(NodeError)
    {
        let c = try aws("resolve the region") { () throws(AWSError) in
            try AWSClients(environment: environment, deadline: Deadline(seconds: timeoutSeconds, clock: clock),
                           transport: transport, clock: clock, random: random)
        }
        imds = c.imds
        ec2 = c.ec2
    }
}

/// Everything a command needs from the outside world, injected.
public struct NodeContext {
    public var config: NodeConfig
    public var paths: NodePaths
    public var clock: any AWSClock
    public var links: any LinkOperations
    /// One line per step taken (the CLI prints them on stderr).
    public var log: (String) -> Void
    /// Opens the AWS clients (the CLI: `AWSSession` over `CurlTransport` and the process environment).
    public var openSession: () throws(NodeError) -> AWSSession

    public init(config: NodeConfig, paths: NodePaths, clock: any AWSClock, links: any LinkOperations,
                log: @escaping (String) -> Void, openSession: @escaping () throws(NodeError) -> AWSSession)
    {
        self.config = config
        self.paths = paths
        self.clock = clock
        self.links = links
        self.log = log
        self.openSession = openSession
    }
}

