// swift-tools-version:6.0
// eni-multus: a CNI plugin for secondary ENIs on Amazon EKS.
import PackageDescription

// The plugin's modules import neither _Concurrency nor _StringProcessing (Swift imports both implicitly): linked
// statically, _Concurrency brings libdispatch and its start-up work (it reads /sys/devices/system/cpu/possible on
// every exec), and the two together are 2.2 MB of the 9.7 MB stripped plugin (bench/RESULTS.md). The plugin is
// synchronous and uses no regex; the node binary's modules keep both.
let pluginModule: [SwiftSetting] = [.unsafeFlags([
    "-Xfrontend", "-disable-implicit-concurrency-module-import",
    "-Xfrontend", "-disable-implicit-string-processing-module-import",
])]

let package = Package(
    name: "eni-multus",
    products: [
        .executable(name: "eni-multus", targets: ["eni-multus"]),
        .executable(name: "eni-multus-node", targets: ["eni-multus-node"]),
        .library(name: "NodeAgent", targets: ["NodeAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The only C boundary for netlink: libmnl plus a header of inline shims.
        .systemLibrary(
            name: "CLibmnl",
            path: "Sources/CLibmnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        // Definitions that keep the shipped executables within the EKS nodes' glibc (2.34): see its header.
        .target(name: "CGlibcCompat"),
        // POSIX helpers both binaries share: files with a stated durability (the fsync policy), locks, the live
        // process (environment, stdio, clocks), the undo stack, the one check of configured paths.
        .target(name: "Platform", swiftSettings: pluginModule),
        // IP addresses, prefixes, MAC addresses: pure value types shared by every layer.
        .target(name: "NetTypes", swiftSettings: pluginModule),
        // The node's state: where every file lives (layout, default data directory), every record format, the tags
        // that mark our ENIs. Used by the plugin and the node agent alike.
        .target(name: "NodeState", dependencies: ["NetTypes"], swiftSettings: pluginModule),
        // A small JSON value type with a strict parser and a deterministic serializer.
        .target(name: "JSON", swiftSettings: pluginModule),
        // rtnetlink over libmnl, network namespaces, sysctls, neighbour announcements.
        .target(name: "Netlink", dependencies: ["CLibmnl", "NetTypes", "Platform"], swiftSettings: pluginModule),
        // The CNI protocol: versions, environment, CNI_ARGS, configuration, results, wire errors.
        .target(name: "CNI", dependencies: ["JSON", "NetTypes", "Platform"], swiftSettings: pluginModule),
        // Address management: host-local-compatible ranges, the on-disk store, delegated IPAM.
        .target(name: "IPAM", dependencies: ["CNI", "JSON", "NetTypes", "NodeState", "Platform"], swiftSettings: pluginModule),
        // Headers only (libcurl, libcrypto, expat) plus inline dlopen/dlsym shims: the AWS libraries are loaded on
        // first use, so verbs that never call AWS (VERSION, ranges-only ADD) never map them.
        .systemLibrary(name: "CAWSShims", path: "Sources/CAWSShims"),
        // IMDSv2, credentials, SigV4, the EC2 Query API, retries under a deadline.
        .target(name: "AWS", dependencies: ["CAWSShims", "JSON"]),
        // What the plugin and the node agent share: the EC2/IMDS operations, their values and errors, the versioned
        // request/reply messages on the agent's SOCK_SEQPACKET socket, and the plugin's client. No AWS code.
        .target(name: "AgentProtocol", dependencies: ["JSON", "NetTypes"], swiftSettings: pluginModule),
        // EC2 registration's records and the one release path: the ledger, release queue and warm pool of each
        // network, releasing addresses from an ENI, the verified-ENI and instance-limit caches, and the node-local
        // reconcile. Used by the plugin (DEL, GC) and the node agent (reconcile).
        .target(name: "Registration", dependencies: ["AgentProtocol", "NetTypes", "NodeState", "Platform"], swiftSettings: pluginModule),
        // Addresses on the ENI, plugin side: the network's `eni` block, ENI selection, per-IP registration and the
        // EC2-native IPAM modes (`ec2` with its warm pool, `prefix`), over a context the plugin's verb provides.
        .target(name: "ENIAddressing", dependencies: ["AgentProtocol", "CNI", "IPAM", "JSON", "NetTypes", "NodeState", "Platform", "Registration"],
                swiftSettings: pluginModule),
        // The plugin: verbs, ipvlan and host-device drivers, undo stack, logging, error mapping. It reaches EC2 only
        // through the node agent, so it links no AWS, HTTP, TLS or XML code.
        .target(name: "ENIMultusCore", dependencies: ["CNI", "ENIAddressing", "IPAM", "Netlink", "NetTypes", "JSON", "AgentProtocol", "NodeState", "Platform", "Registration"],
                swiftSettings: pluginModule),
        // Binds the live environment (env, stdin, stdout) to ENIMultusCore.
        .executableTarget(name: "eni-multus", dependencies: ["ENIMultusCore", "Platform", "CGlibcCompat"], swiftSettings: pluginModule),
        // The node installer's logic: attach/detach/cleanup/status of this node's multus ENIs, atomic install.
        // Clock, paths, environment and link operations are injected, so all of it runs in-process in tests.
        // `agent` is here too: the broker that holds the AWS session and serves the plugins' requests.
        .target(name: "NodeAgent", dependencies: ["AWS", "AgentProtocol", "Netlink", "NetTypes", "JSON", "NodeState", "Platform", "Registration"]),
        // Binds the live environment to NodeAgent through swift-argument-parser commands.
        .executableTarget(
            name: "eni-multus-node",
            dependencies: ["NodeAgent", "NodeState", "Platform", "Registration", "CGlibcCompat", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Shared by the test targets: capability probes, netns/veth fixtures, process helpers.
        .target(name: "TestSupport", dependencies: ["Platform"], path: "Tests/TestSupport"),
        // Test tiers are named by the first word of each top-level suite: Unit…, Host…, Kernel…, Peer….
        .testTarget(name: "GlibcCompatTests", dependencies: ["CGlibcCompat"]),
        .testTarget(name: "NetTypesTests", dependencies: ["NetTypes"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "NetTypes", "TestSupport"]),
        .testTarget(name: "CNITests", dependencies: ["CNI", "JSON", "NetTypes", "Platform", "TestSupport"]),
        .testTarget(name: "AWSTests", dependencies: ["AWS", "JSON", "TestSupport"]),
        // The EC2 emulator's own tests, beside it (ec2env.py is what they test, not a resource of theirs).
        .testTarget(name: "EmulatorTests", dependencies: ["TestSupport"], path: "Tests/Emulators", exclude: ["ec2env.py", "README.md"]),
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "NodeState", "Platform", "CNI", "JSON", "NetTypes", "TestSupport"]),
        .testTarget(
            name: "PluginTests",
            dependencies: ["ENIMultusCore", "ENIAddressing", "AgentProtocol", "NodeAgent", "NodeState", "Platform", "Registration", "CNI", "IPAM", "Netlink", "NetTypes", "JSON", "TestSupport"]
        ),
        .testTarget(
            name: "NodeAgentTests",
            dependencies: ["NodeAgent", "ENIMultusCore", "ENIAddressing", "AgentProtocol", "NodeState", "Platform", "Registration", "CNI", "IPAM", "AWS", "Netlink", "NetTypes", "JSON", "TestSupport"]
        ),
    ]
)
