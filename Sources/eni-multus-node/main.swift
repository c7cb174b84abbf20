// eni-multus-node: prepares an EKS node's multus ENIs and installs the eni-multus plugin.
// This file only binds the live environment (process env, /proc/sys, netlink, libcurl, stderr) to NodeAgent.
import ArgumentParser
import AWS
import Glibc
import JSON

import NodeAgent
import Platform
import NodeState
import Registration

struct Common: ParsableArguments {
    @Option(help: "JSON configuration file (the DaemonSet's ConfigMap); flags override it.")
    var config: String?

    @Option(help: "Cluster name (tag eni-multus.io/cluster).")
    var cluster: String?

    @Option(name: .customLong("subnet"),
            help: "A multus subnet, repeatable: subnet-…, subnet-a|subnet-b (the one in this AZ), or tag:KEY=VALUE[,tag:…].")
    var subnets: [String] = []

    @Option(name: .customLong("security-group"), help: "Security group for every subnet's ENI, repeatable.")
    var securityGroups: [String] = []

    @Option(help: "SourceDestCheck of the multus ENIs (true|false).")
    var sourceDestCheck: Bool?

    @Option(help: "rp_filter for the multus links (0, 1 or 2).")
    var rpFilter: Int?

    @Flag(inversion: .prefixedNo, help: "Write the systemd-networkd Unmanaged=yes drop-in.")
    var networkd: Bool?

    @Flag(inversion: .prefixedNo,
          help: "attach: adopt an ENI attached to this node in a configured subnet that carries node.k8s.amazonaws.com/no_manage=true and no eni-multus tags (the seed template's): tag it for this cluster and node instead of creating a second one. Without it attach refuses next to such an ENI.")
    var adopt: Bool?

    @Option(help: "Prefix of host paths (the DaemonSet mounts host directories below /host).")
    var hostRoot: String = ""

    @Option(help: "systemd-networkd drop-in directory (below --host-root).")
    var networkdDir: String = "/etc/systemd/network"

    @Option(help: "State directory (below --host-root).")
    var stateDir: String = "/var/lib/eni-multus-node"

    @Option(help: "Seconds to wait for a hot-plugged ENI's link.")
    var linkTimeout: Double?

    @Option(help: "Deadline in seconds for the EC2/IMDS work of one run.")
    var ec2Timeout: Double?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func load() throws -> NodeConfig {
        var c = NodeConfig()
        if let config { c = try NodeConfig.parse(String(decoding: try FileIO.contents(config), as: UTF8.self)) }
        if let cluster { c.clusterName = cluster }
        if !subnets.isEmpty { c.subnets = try subnets.map { SubnetSpec(try SubnetSelector.parse($0)) } }
        if !securityGroups.isEmpty { c.securityGroups = securityGroups }
        if let sourceDestCheck { c.sourceDestCheck = sourceDestCheck }
        if let rpFilter { c.rpFilter = rpFilter }
        if let networkd { c.networkd = networkd }
        if let adopt { c.adopt = adopt }
        if let linkTimeout { c.linkTimeoutSeconds = linkTimeout }
        if let ec2Timeout { c.ec2TimeoutSeconds = ec2Timeout }
        return c
    }

    var paths: NodePaths { NodePaths(hostRoot: hostRoot, networkdDir: networkdDir, stateDir: stateDir) }

    func context() throws -> NodeContext {
        let cfg = try load()
        let env = Live.environment()
        let clock = SystemClock()
        return NodeContext(
            config: cfg, paths: paths, clock: clock, links: LiveLinkOperations(), log: Live.log,
            openSession: { () throws(NodeError) -> AWSSession in
                try AWSSession(environment: env, timeoutSeconds: cfg.ec2TimeoutSeconds, clock: clock,
                               transport: CurlTransport())
            })
    }
}

enum Live {
    /// The process environment and a complete write: the plugin's own live bindings (one implementation).
    static func environment() -> [String: String] { LiveProcess.environment() }

    static func log(_ line: String) {
        write(2, "eni-multus-node: \(line)\n")
    }

    static func write(_ fd: Int32, _ s: String) { LiveProcess.write(fd, s) }

    /// Runs a command body; a NodeError becomes one line on stderr and its exit code.
    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as NodeError {
            log("error: \(e)")
            throw ExitCode(e.exitCode)
        }
    }
}

@main
struct ENIMultusNode: ParsableCommand {
    static func main() {
        // A long-running command writes to sockets (the metrics endpoint) and pipes: a peer that went away must be
        // an EPIPE to handle, never a signal that ends the container.
        signal(SIGPIPE, SIG_IGN)
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "eni-multus-node",
        abstract: "Attach, inspect and remove an EKS node's multus ENIs; install the eni-multus CNI plugin.",
        subcommands: [Attach.self, Install.self, Detach.self, Cleanup.self, Status.self, Reconcile.self, Agent.self])
}

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create (tagged at creation), attach and configure one ENI per configured subnet; idempotent.")
    @OptionGroup var common: Common

    func run() throws {
        try Live.run {
            let report = try Attacher(try common.context()).run()
            Live.write(1, common.json ? report.json.serialized() + "\n" : report.human)
        }
    }
}

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the plugin binary atomically into the host's CNI bin directory (and optionally a conf).")
    @OptionGroup var common: Common
    @Option(help: "The plugin binary to install.") var source: String = "/opt/eni-multus/bin/eni-multus"
    @Option(help: "CNI bin directory (below --host-root).") var cniBinDir: String = "/opt/cni/bin"
    @Option(help: "A CNI configuration file to install as well.") var conf: String?
    @Option(help: "CNI configuration directory (below --host-root).") var cniConfDir: String?
    @Flag(help: "Run attach after installing (the DaemonSet's init container).") var attach = false

    func run() throws {
        try Live.run {
            let r = try Installer(paths: common.paths, log: Live.log)
                .install(source: source, binDir: cniBinDir, confSource: conf, confDir: cniConfDir)
            if attach {
                let report = try Attacher(try common.context()).run()
                Live.write(1, common.json ? report.json.serialized() + "\n" : report.human)
            } else if !common.json {
                Live.write(1, "\(r.binary) \(r.binaryChanged ? "installed" : "unchanged")\n")
            }
        }
    }
}

struct Detach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detach and delete this node's eni-multus ENIs (tags cluster + node); never foreign ones.")
    @OptionGroup var common: Common

    func run() throws {
        try Live.run {
            let ids = try Detacher(try common.context()).detachNode()
            Live.write(1, ids.map { "deleted \($0)\n" }.joined())
        }
    }
}

struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the cluster's unattached eni-multus ENIs (left by terminated nodes); never foreign ones.")
    @OptionGroup var common: Common

    func run() throws {
        try Live.run {
            let ids = try Detacher(try common.context()).cleanupCluster()
            Live.write(1, ids.map { "deleted \($0)\n" }.joined())
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this node's ENIs, addresses, ownership and drift (read-only).")
    @OptionGroup var common: Common
    @Flag(help: "Keep running: print the status every --interval seconds (the DaemonSet's main container).")
    var watch = false
    @Option(help: "Seconds between two --watch rounds.") var interval: Double = 300
    @Flag(help: "With --watch, run attach again when drift is found (re-creates a missing ENI, brings a link up).")
    var repair = false

    func run() throws {
        try Live.run {
            let ctx = try common.context()
            repeat {
                do {
                    let report = try StatusReader(ctx).run()
                    Live.write(1, common.json ? report.json.serialized() + "\n" : report.human)
                    if watch && repair && report.hasDrift {
                        Live.log("drift found: running attach")
                        _ = try Attacher(ctx).run()
                    }
                } catch let e as NodeError where watch {
                    // One failed round (EC2 throttling, IMDS hiccup) must not restart the pod: log, try next round.
                    Live.log("status round failed: \(e)")
                }
                if watch { ctx.clock.sleep(seconds: max(1, interval)) }
            } while watch
        }
    }
}

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release addresses on this node's multus ENIs that no record owns, drain the plugin's release queues, and expose Prometheus metrics (the DaemonSet's main container).")
    @OptionGroup var common: Common
    @Option(help: "The plugin's state directory (its ipam.dataDir; below --host-root).")
    var pluginDataDir: String = NodeStateLayout.defaultDataDir
    @Option(help: "Seconds between two passes.") var interval: Double = 60
    @Option(help: "An unowned address is released once seen unowned for this many seconds.") var graceSeconds: Int = 300
    @Option(help: "Port of the Prometheus endpoint GET /metrics (0: none).") var metricsPort: Int = 9464
    @Option(help: "Address the metrics endpoint binds.") var metricsAddress: String = "0.0.0.0"
    @Flag(help: "Run one pass and exit.") var once = false

    func run() throws {
        try Live.run {
            let metrics = ReconcileMetrics()
            if metricsPort > 0 && !once {
                guard (1...65535).contains(metricsPort) else { throw NodeError.config("--metrics-port \(metricsPort) is not a port") }
                let server = try MetricsServer(address: metricsAddress, port: UInt16(metricsPort), metrics: metrics)
                server.start()
                Live.log("metrics on http://\(metricsAddress):\(server.port)/metrics")
            }
            let dir = (common.hostRoot == "/" ? "" : common.hostRoot) + pluginDataDir
            let env = Live.environment()
            repeat {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                var aws: AWSEC2Gateway?
                let r = NodeReconcile.run(dataDir: dir, graceSeconds: graceSeconds, now: Int64(now.tv_sec)) {
                    let reg = try AWSEC2Gateway(environment: env, timeoutSeconds: common.ec2Timeout ?? 20)
                    aws = reg
                    return reg
                }
                metrics.record(assigned: r.assigned, leaked: r.leaked, released: r.released + r.drained, queued: r.queued,
                               ec2Calls: aws?.ec2Attempts ?? 0, errors: r.errors.count, throttles: aws?.ec2Throttles ?? 0,
                               now: Double(now.tv_sec))
                Live.write(1, common.json ? "{\"reconcile\":\"\(r)\"}\n" : "reconcile: \(r)\n")
                if once && !r.errors.isEmpty { throw NodeError.state("reconcile: \(r.errors[0])") }
                if !once { sleep(UInt32(max(1, interval))) }
            } while !once
        }
    }
}

struct Agent: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the plugin's EC2 and IMDS requests and reconcile this node's multus ENIs: the node's only holder of EC2 rights (one per node; the DaemonSet's main container).")

    @Option(help: "The socket the plugin connects to (root only; the plugin's agentSocket).")
    var socket: String = "/run/eni-multus/agent.sock"

    @Option(help: "The plugin's data directory (its ipam.dataDir): the agent's lock, and what reconcile reads.")
    var dataDir: String = NodeStateLayout.defaultDataDir

    @Option(help: "Sustained mutating EC2 calls per second per action this agent allows itself.")
    var ec2Rate: Double = 5

    @Option(help: "Mutating EC2 calls per action allowed in a burst.")
    var ec2Burst: Double = 20

    @Option(help: "Seconds between two reconcile passes (0: no reconcile).")
    var reconcileInterval: Double = 60

    @Option(help: "An unowned address is released once seen unowned for this many seconds.")
    var graceSeconds: Int = 300

    @Option(help: "Port of the Prometheus endpoint GET /metrics (0: none).")
    var metricsPort: Int = 0

    @Option(help: "Address the metrics endpoint binds.")
    var metricsAddress: String = "0.0.0.0"

    @Option(help: "Deadline in seconds of one reconcile request.")
    var ec2Timeout: Double = 20

    func run() throws {
        guard ec2Rate > 0, ec2Burst >= 1 else { throw ValidationError("--ec2-rate must be > 0 and --ec2-burst >= 1") }
        guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port \(metricsPort) is not a port") }
        let env = Live.environment()
        let broker = Broker(options: .init(ratePerSecond: ec2Rate, burst: ec2Burst), clock: SystemClock(),
                            log: { Live.log($0) }) {
            try AWSEC2Gateway(environment: env, timeoutSeconds: 10)
        }
        #if DEBUG
        // The crash campaign: ENI_MULTUS_FAILPOINT names a point of Broker.crashPoints where the agent kills itself.
        // Release builds have no failpoints (scripts/release-failpoints.sh).
        if let wanted = env["ENI_MULTUS_FAILPOINT"], Broker.crashPoints.contains(wanted) {
            broker.crashPoint = { if $0 == wanted { kill(getpid(), SIGKILL) } }
        }
        #endif
        let server = AgentServer(socketPath: socket, dataDir: dataDir, broker: broker, log: { Live.log($0) })
        let running: AgentServer.Running
        do { running = try server.start() } catch {
            Live.log("error: \(error)")
            throw ExitCode(1)
        }
        let metrics = ReconcileMetrics()
        metrics.live = {
            let s = broker.stats
            return ["eni_multus_agent_requests_total": Double(s.requests),
                    "eni_multus_agent_ec2_mutations_total": Double(s.ec2Calls),
                    "eni_multus_agent_merged_requests_total": Double(s.merged),
                    "eni_multus_agent_throttled_total": Double(s.throttled)]
        }
        if metricsPort > 0 {
            let m = try MetricsServer(address: metricsAddress, port: UInt16(metricsPort), metrics: metrics)
            m.start()
            Live.log("metrics on http://\(metricsAddress):\(m.port)/metrics")
        }
        withExtendedLifetime(running) {
            while true {
                if reconcileInterval > 0 {
                    let before = broker.stats
                    var now = timespec()
                    clock_gettime(CLOCK_REALTIME, &now)
                    let r = NodeReconcile.run(dataDir: dataDir, graceSeconds: graceSeconds, now: Int64(now.tv_sec)) {
                        BrokeredGateway(broker: broker, timeout: ec2Timeout)
                    }
                    let after = broker.stats
                    metrics.record(assigned: r.assigned, leaked: r.leaked, released: r.released + r.drained, queued: r.queued,
                                   ec2Calls: after.calls.values.reduce(0, +) - before.calls.values.reduce(0, +),
                                   errors: r.errors.count, throttles: after.throttled - before.throttled,
                                   now: Double(now.tv_sec))
                    Live.log("reconcile: \(r)")
                }
                sleep(UInt32(max(1, reconcileInterval > 0 ? reconcileInterval : 10)))
            }
        }
    }
}
