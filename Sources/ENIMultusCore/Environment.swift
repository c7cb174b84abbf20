#if canImport(Glibc)
import Glibc
#endif
import AgentProtocol
import CNI
import NodeState
import ENIAddressing

/// Everything the plugin takes from the outside world, injected so the whole protocol runs in-process in tests.
/// `main.swift` binds the live values; tests bind their own.
public struct PluginEnvironment: Sendable {
    /// The process environment (`CNI_*` and the rest, passed on to delegated IPAM plugins).
    public var variables: [String: String]
    /// stdin, read whole.
    public var stdin: [UInt8]
    /// Monotonic nanoseconds, for durations in the log.
    public var monotonicNanos: @Sendable () -> UInt64
    /// Wall-clock seconds since the epoch, for log timestamps.
    public var wallClock: @Sendable () -> Double
    /// 64 random bits (unique names of queued releases).
    public var random: @Sendable () -> UInt64
    /// File-system roots.
    public var paths: Paths
    /// Tests replace EC2 and IMDS here (nil: the real AWS layer, configured from `variables`).
    var gatewayFactory: (@Sendable (Double) throws -> any EC2Gateway)?

    public struct Paths: Sendable {
        /// `/proc/sys` (sysctls are written inside the target netns).
        public var procSys: String
        /// `/sys` (device drivers and PCI addresses of host devices).
        public var sys: String
        /// Default IPAM and link-record directory when the config has no `ipam.dataDir`.
        public var dataDir: String
        public init(procSys: String = "/proc/sys", sys: String = "/sys", dataDir: String = NodeStateLayout.defaultDataDir) {
            self.procSys = procSys
            self.sys = sys
            self.dataDir = dataDir
        }
    }

    public init(variables: [String: String], stdin: [UInt8], monotonicNanos: @escaping @Sendable () -> UInt64,
                wallClock: @escaping @Sendable () -> Double, random: @escaping @Sendable () -> UInt64,
                paths: Paths = Paths()) {
        self.variables = variables
        self.stdin = stdin
        self.monotonicNanos = monotonicNanos
        self.wallClock = wallClock
        self.random = random
        self.paths = paths
    }
}

/// What one invocation produced: the bytes for stdout and stderr and the exit status.
public struct PluginOutput: Sendable, Equatable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int32
}

extension PluginEnvironment {
    /// Where the node agent listens when the config has no `agentSocket` (default `/run/eni-multus/agent.sock`).
    public static let agentSocketVariable = "ENI_MULTUS_AGENT_SOCKET"
}

// MARK: - failpoints (tests only)

extension PluginEnvironment {
    /// The variable that names the failpoint to fire (crash safety).
    public static let failpointVariable = "ENI_MULTUS_FAILPOINT"

    /// A crash point for the fault campaign: when `ENI_MULTUS_FAILPOINT` (read from `variables`, never getenv)
    /// names this point, the process kills itself with SIGKILL right here, so tests can check that the runtime's
    /// follow-up DEL (and GC) leaves nothing behind whatever step an invocation died after. Compiled only into
    /// debug builds (`-DDEBUG`, what `swift build` and the test tiers use): a release binary has no failpoints, so
    /// no environment variable can make the installed plugin kill itself. The names are in `Failpoints.all`.
    @inline(__always)
    func failpoint(_ name: String) {
        #if DEBUG
        guard let wanted = variables[Self.failpointVariable], wanted == name else { return }
        kill(getpid(), SIGKILL)
        #endif
    }
}

// MARK: - mutants (tests of the tests only)

extension PluginEnvironment {
    /// The variable that names a deliberate bug to switch on: the campaigns' companion tests run the
    /// debug binary with it to show that each tightened net catches the bug it guards.
    public static let mutantVariable = "ENI_MULTUS_MUTANT"

    /// Whether `ENI_MULTUS_MUTANT` (read from `variables`, never getenv) names this deliberate bug. Compiled only
    /// into debug builds, like `failpoint`: in a release build this is always false, whatever the environment
    /// (`scripts/release-failpoints.sh` checks both). The names are in `Mutants.all`.
    @inline(__always)
    func mutant(_ name: String) -> Bool {
        #if DEBUG
        return variables[Self.mutantVariable] == name
        #else
        return false
        #endif
    }
}

/// Every failpoint in the core (Tests/README.md), in the order an ADD or DEL reaches them.
public enum Failpoints {
    public static let add = [
        "add.ipam.after-record",           // ranges: the attachment record written, no address file yet
        "add.ipam.after-address-files",    // ranges: address files created, cursor not yet moved
        "add.after-ipam",                  // the IPAM result in hand (any IPAM), nothing else done
        "add.after-ledger-record",         // EC2 registration: ledger entry written, EC2 not asked yet
        "add.after-ec2-register",          // EC2 registration: assigned and confirmed in IMDS
        "add.ec2.after-ledger-open",       // ec2 mode: ledger entry without addresses written
        "add.ec2.after-warm-take",         // ec2 mode: a warm-pool address recorded for the attachment, pool file not yet checked in IMDS
        "add.ec2.after-assign",            // ec2 mode: EC2 chose and assigned the address (and the pool's refill), ledger not completed
        "add.ec2.after-ledger-complete",   // ec2 mode: ledger lists the address
        "add.prefix.after-grow-assign",    // prefix mode: EC2 assigned a new prefix, not yet recorded
        "add.prefix.after-grow-save",      // prefix mode: the new prefix recorded
        "add.prefix.after-allocate",       // prefix mode: address reserved, held-prefix list not yet saved
        "add.hd.after-link-record",        // host-device: links/ record written, device not moved
        "add.hd.after-move-into-netns",    // host-device: device in the pod netns, renamed and aliased (one message)
        "add.ipvlan.after-create",         // ipvlan: slave created under its temporary name in the pod netns
        "add.ipvlan.after-rename",         // ipvlan: renamed to CNI_IFNAME
        "add.after-address-add",           // first address added to the pod interface
        "add.after-link-up",               // pod interface up
        "add.after-route-add",             // first route added
        "add.before-result",               // everything done, result not yet printed
    ]
    public static let del = [
        "del.after-ec2-release",           // EC2 unassign done, ledger entry not yet forgotten
        "del.after-ec2-queue",             // release queued (cooldown or EC2 unreachable), ledger not yet forgotten
        "del.after-ledger-forget",         // EC2 half done, IPAM not yet released
        "del.ipam.after-cooling",          // ranges: cooling record written, address file still there
        "del.ipam.after-address-files",    // ranges: address files removed, attachment record still there
        "del.prefix.after-release",        // prefix mode: address released, empty prefixes not yet returned
        "del.prefix.after-forget",         // prefix mode: empty prefix dropped from the held list, not yet unassigned
        "del.prefix.after-return",         // prefix mode: empty prefix unassigned in EC2
        "del.after-ipam-release",          // IPAM released, interface not yet removed or returned
        "del.hd.after-return",             // host-device: device home, links/ record not yet removed
    ]
    public static var all: [String] { add + del }
}
