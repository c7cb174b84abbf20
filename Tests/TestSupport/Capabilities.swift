// What this machine can do, and which test tier is being run.
//
// Tiers (the first word of every top-level suite's type name):
//   Unit…        pure; runs anywhere
//   Host…        root, host kernel: netns, veth, macvlan, bridge
//   Kernel…      root and ipvlan: only inside user-mode Linux here
//   PeerHost…    root and Debian's reference plugins in /usr/lib/cni
//   PeerKernel…  reference plugins and ipvlan: inside user-mode Linux
//   Faults…      root, host kernel: hostile input and security checks
//
// scripts/test.sh runs each tier with ENI_MULTUS_TIER set to its raw value.
// When CI=true and ENI_MULTUS_TIER names a tier, that tier's tests must not
// skip: a missing capability is a failure (see `Capabilities.check`), and the
// runner also fails a CI run that skipped anything.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public enum Tier: String, Sendable, CaseIterable, CustomStringConvertible {
    case unit = "unit"
    case host = "host"
    case kernel = "kernel"
    case peerHost = "peer-host"
    case peerKernel = "peer-kernel"
    case faults = "faults"

    /// The word a top-level suite's type name starts with.
    public var suitePrefix: String {
        switch self {
        case .unit: "Unit"
        case .host: "Host"
        case .kernel: "Kernel"
        case .peerHost: "PeerHost"
        case .peerKernel: "PeerKernel"
        case .faults: "Faults"
        }
    }

    /// What every test of the tier needs.
    public var requirements: [Requirement] {
        switch self {
        case .unit: []
        case .host: [.root, .netns, .veth]
        case .kernel: [.root, .netns, .veth, .ipvlan]
        case .peerHost: [.root, .netns, .veth, .referencePlugins]
        case .peerKernel: [.root, .netns, .veth, .ipvlan, .referencePlugins]
        case .faults: [.root, .netns, .veth, .macvlan]
        }
    }

    public var description: String { rawValue }
}

/// One thing a test may need from the machine.
public enum Requirement: String, Sendable, CaseIterable, CustomStringConvertible {
    case root
    /// `ip netns add` works (root, iproute2, a writable /run/netns).
    case netns
    case veth
    case macvlan
    case ipvlan
    case bridge
    /// Debian's containernetworking-plugins: ipvlan, host-local, host-device.
    case referencePlugins = "reference-plugins"
    /// A real NIC (not veth/macvlan) named by ENI_MULTUS_NIC exists in the
    /// root netns: `eth0` of `scripts/uml/run.sh --nic`.
    case nic
    /// Running inside the user-mode Linux kernel of scripts/uml/run.sh.
    case uml

    public var description: String { rawValue }

    public var isMet: Bool {
        switch self {
        case .root: Capabilities.isRoot
        case .netns: Capabilities.hasNetns
        case .veth: Capabilities.hasVeth
        case .macvlan: Capabilities.hasMacvlan
        case .ipvlan: Capabilities.hasIPVlan
        case .bridge: Capabilities.hasBridge
        case .referencePlugins: Capabilities.hasReferencePlugins
        case .nic: Capabilities.nic != nil
        case .uml: Capabilities.insideUML
        }
    }
}

/// Thrown (recorded as a test failure) when a tier that must run lacks what
/// it needs.
public struct MissingCapabilityError: Error, CustomStringConvertible, Sendable {
    public let tier: Tier?
    public let missing: [Requirement]
    public var description: String {
        let what = missing.map(\.rawValue).joined(separator: ", ")
        let tierText = tier.map { " for tier \($0.rawValue)" } ?? ""
        return "missing capability\(tierText): \(what)"
            + " (CI=\(Capabilities.isCI), ENI_MULTUS_TIER=\(Capabilities.currentTierName ?? "unset"),"
            + " inside UML: \(Capabilities.insideUML))"
    }
}

public enum Capabilities {
    // MARK: environment

    /// CI=true (or 1/yes).
    public static var isCI: Bool {
        guard let v = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
        return v == "true" || v == "1" || v == "yes"
    }

    /// ENI_MULTUS_TIER as given.
    public static var currentTierName: String? {
        ProcessInfo.processInfo.environment["ENI_MULTUS_TIER"]
    }

    /// The tier scripts/test.sh is running, if any.
    public static var currentTier: Tier? { currentTierName.flatMap(Tier.init(rawValue:)) }

    /// True when `tier` may not skip: CI=true and ENI_MULTUS_TIER names it.
    public static func mustRun(_ tier: Tier) -> Bool { isCI && currentTier == tier }

    // MARK: probes

    public static var isRoot: Bool { geteuid() == 0 }

    /// Inside the user-mode Linux kernel (scripts/uml/run.sh sets
    /// ENI_MULTUS_IN_UML=1; /proc/cpuinfo says "User Mode Linux" there).
    public static let insideUML: Bool = {
        if ProcessInfo.processInfo.environment["ENI_MULTUS_IN_UML"] == "1" { return true }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return cpuinfo.contains("User Mode Linux")
    }()

    public static let hasIP: Bool = executable("/usr/sbin/ip") || executable("/sbin/ip") || executable("/usr/bin/ip")

    /// Root, iproute2 and a working `ip netns add` (probed once).
    public static let hasNetns: Bool = {
        guard isRoot, hasIP else { return false }
        let name = uniqueName(prefix: "emtcap")
        guard Shell.run(["ip", "netns", "add", name]).status == 0 else { return false }
        _ = Shell.run(["ip", "netns", "del", name])
        return true
    }()

    public static let hasVeth: Bool = linkKindWorks("veth")
    public static let hasMacvlan: Bool = linkKindWorks("macvlan")
    public static let hasBridge: Bool = linkKindWorks("bridge")
    /// True inside scripts/uml/run.sh's kernel; false on this project's host
    /// kernels, which lack the driver.
    public static let hasIPVlan: Bool = linkKindWorks("ipvlan")
    public static let hasDummy: Bool = linkKindWorks("dummy")

    /// Where Debian's reference plugins live (ENI_MULTUS_CNI_REFERENCE_DIR
    /// overrides).
    public static var referencePluginDir: String {
        ProcessInfo.processInfo.environment["ENI_MULTUS_CNI_REFERENCE_DIR"] ?? "/usr/lib/cni"
    }

    /// The reference plugins the peer tiers compare against.
    public static let referencePluginNames = ["ipvlan", "host-local", "host-device"]

    public static var hasReferencePlugins: Bool {
        referencePluginNames.allSatisfy { executable(referencePluginDir + "/" + $0) }
    }

    /// The real NIC tests may move between namespaces: ENI_MULTUS_NIC (set to
    /// `eth0` by scripts/test.sh for UML runs with --nic) if that interface
    /// exists in the current (root) netns; nil otherwise.  The NIC can be
    /// missing for a moment after the netns holding it is deleted: use
    /// `waitUntil` before relying on it.
    public static var nic: String? {
        guard let name = ProcessInfo.processInfo.environment["ENI_MULTUS_NIC"], !name.isEmpty,
              FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
        else { return nil }
        return name
    }

    // MARK: decisions

    /// The requirements (of `tier`, plus `also`) that this machine lacks.
    public static func missing(_ tier: Tier? = nil, also: [Requirement] = []) -> [Requirement] {
        var seen = Set<Requirement>()
        return ((tier?.requirements ?? []) + also).filter { seen.insert($0).inserted && !$0.isMet }
    }

    /// For `.enabled(if:)`: true when the tier can run here, and also true when
    /// it must run (CI with ENI_MULTUS_TIER naming it), so that it runs and
    /// fails instead of skipping.  Pair with `require` inside the test, or use
    /// the `.tier()` trait, which does both.
    public static func enabled(_ tier: Tier, also: [Requirement] = []) -> Bool {
        missing(tier, also: also).isEmpty || mustRun(tier)
    }

    /// Same as `enabled(_:)` with the argument label some prefer.
    public static func enabled(tier: Tier, also: [Requirement] = []) -> Bool {
        enabled(tier, also: also)
    }

    /// The condition behind the `.tier()` trait: true if everything is
    /// there; false (skip) if something is missing and the tier may skip;
    /// throws `MissingCapabilityError` (the test fails) if something is missing
    /// and the tier must run.
    public static func check(_ tier: Tier, also: [Requirement] = []) throws -> Bool {
        let m = missing(tier, also: also)
        if m.isEmpty { return true }
        if mustRun(tier) { throw MissingCapabilityError(tier: tier, missing: m) }
        return false
    }

    /// Throws `MissingCapabilityError` unless everything `tier` (plus `also`)
    /// needs is there.  Call at the start of a test body.
    public static func require(_ tier: Tier? = nil, also: [Requirement] = []) throws {
        let m = missing(tier, also: also)
        if !m.isEmpty { throw MissingCapabilityError(tier: tier, missing: m) }
    }

    /// One line describing the machine, for logs.
    public static var summary: String {
        let flags: [(String, Bool)] = [
            ("root", isRoot), ("uml", insideUML), ("netns", hasNetns), ("veth", hasVeth),
            ("macvlan", hasMacvlan), ("ipvlan", hasIPVlan), ("dummy", hasDummy),
            ("reference-plugins", hasReferencePlugins), ("ci", isCI),
        ]
        return flags.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            + " tier=\(currentTierName ?? "-") nic=\(nic ?? "-")"
    }

    // MARK: helpers

    static func executable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// Whether `ip link add … type KIND` works: /sys/module/KIND is loaded, or
    /// (for built-in drivers) creating one in a throwaway netns succeeds.
    /// Never touches the root netns.
    static func linkKindWorks(_ kind: String) -> Bool {
        guard isRoot, hasIP else { return false }
        if FileManager.default.fileExists(atPath: "/sys/module/\(kind)") { return true }
        guard hasNetns else { return false }
        let ns = uniqueName(prefix: "emtcap")
        guard Shell.run(["ip", "netns", "add", ns]).status == 0 else { return false }
        defer { _ = Shell.run(["ip", "netns", "del", ns]) }
        let ip = ["ip", "-n", ns, "link", "add"]
        switch kind {
        case "veth":
            return Shell.run(ip + ["a0", "type", "veth", "peer", "name", "a1"]).status == 0
        case "ipvlan", "macvlan":
            guard Shell.run(ip + ["a0", "type", "veth", "peer", "name", "a1"]).status == 0 else { return false }
            return Shell.run(ip + ["link", "a0", "name", "a2", "type", kind]).status == 0
        default:
            return Shell.run(ip + ["a0", "type", kind]).status == 0
        }
    }
}

/// A short random name such as "emt-3f9a1c0e" (netns) or, with a short
/// prefix, an interface name within the kernel's 15-character limit.
public func uniqueName(prefix: String = "emt", length: Int = 8) -> String {
    let hex = "0123456789abcdef"
    var g = SystemRandomNumberGenerator()
    let suffix = String((0..<length).map { _ in hex.randomElement(using: &g)! })
    return prefix.isEmpty ? suffix : prefix + (prefix.hasSuffix("-") ? "" : "-") + suffix
}

/// A random interface name of at most 15 characters: prefix (at most 6
/// characters) followed by hex digits, no dash.
public func uniqueIfName(prefix: String = "emt") -> String {
    let p = String(prefix.prefix(6))
    return p + uniqueName(prefix: "", length: 15 - p.count)
}
