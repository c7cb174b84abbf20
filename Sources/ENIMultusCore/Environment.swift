import CNI

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
    /// 64 random bits, for temporary interface names.
    public var random: @Sendable () -> UInt64
    /// File-system roots.
    public var paths: Paths
    /// Tests replace EC2 and IMDS here (nil: the real AWS layer, configured from `variables`).
    var registryFactory: (@Sendable (Double) throws -> any ENIRegistry)?

    public struct Paths: Sendable {
        /// `/proc/sys` (sysctls are written inside the target netns).
        public var procSys: String
        /// `/sys` (device drivers and PCI addresses of host devices).
        public var sys: String
        /// Default IPAM and link-record directory when the config has no `ipam.dataDir`.
        public var dataDir: String
        public init(procSys: String = "/proc/sys", sys: String = "/sys", dataDir: String = "/var/lib/cni/eni-multus") {
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
