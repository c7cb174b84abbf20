// Invoking a CNI plugin the way a runtime does: CNI_* variables, the network
// configuration on stdin, the result (or error) JSON on stdout.  Used for
// Debian's reference plugins and for our own binary alike.

import Foundation

public enum CNIExec {
    /// The reference plugin directory (ENI_MULTUS_CNI_REFERENCE_DIR or
    /// /usr/lib/cni).
    public static var referenceDir: String { Capabilities.referencePluginDir }

    /// Runs a CNI plugin.
    ///
    /// - Parameters:
    ///   - plugin: a path, or a bare name looked up in `referenceDir`
    ///     ("ipvlan", "host-local", "host-device").
    ///   - command: CNI_COMMAND: ADD, DEL, CHECK, VERSION, GC, STATUS.
    ///   - containerID: CNI_CONTAINERID.
    ///   - netns: CNI_NETNS, a path such as `TestNetns.path` (omitted if nil).
    ///   - ifname: CNI_IFNAME (omitted if nil).
    ///   - cniPath: CNI_PATH, where delegated IPAM plugins are found
    ///     (default: `referenceDir`).
    ///   - args: CNI_ARGS pairs, joined as `K=V;K=V` (omitted if empty).
    ///   - stdin: the network configuration.
    ///   - extraEnv: more variables (they win over the CNI_* ones).
    ///
    /// The plugin gets a clean environment: PATH plus the CNI_* variables plus
    /// `extraEnv`, so nothing leaks from the test process.
    public static func run(
        plugin: String,
        command: String,
        containerID: String = "emt-container",
        netns: String? = nil,
        ifname: String? = "eth0",
        cniPath: String? = nil,
        args: [(String, String)] = [],
        stdin: [UInt8],
        extraEnv: [String: String] = [:],
        timeout: Double? = 60
    ) -> ShellResult {
        let path = plugin.contains("/") ? plugin : referenceDir + "/" + plugin
        var env: [String: String] = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": containerID,
            "CNI_PATH": cniPath ?? referenceDir,
        ]
        if let netns { env["CNI_NETNS"] = netns }
        if let ifname { env["CNI_IFNAME"] = ifname }
        if !args.isEmpty { env["CNI_ARGS"] = args.map { "\($0.0)=\($0.1)" }.joined(separator: ";") }
        for (k, v) in extraEnv { env[k] = v }
        return Shell.run([path], stdin: stdin, env: env, clearEnvironment: true, timeout: timeout)
    }

    /// `run` with the configuration as a String.
    public static func run(
        plugin: String,
        command: String,
        containerID: String = "emt-container",
        netns: String? = nil,
        ifname: String? = "eth0",
        cniPath: String? = nil,
        args: [(String, String)] = [],
        stdin: String,
        extraEnv: [String: String] = [:],
        timeout: Double? = 60
    ) -> ShellResult {
        run(plugin: plugin, command: command, containerID: containerID, netns: netns, ifname: ifname,
            cniPath: cniPath, args: args, stdin: Array(stdin.utf8), extraEnv: extraEnv, timeout: timeout)
    }

    /// `run` with a `TestNetns`.
    public static func run(
        plugin: String,
        command: String,
        containerID: String = "emt-container",
        netns: TestNetns,
        ifname: String? = "eth0",
        cniPath: String? = nil,
        args: [(String, String)] = [],
        stdin: String,
        extraEnv: [String: String] = [:],
        timeout: Double? = 60
    ) -> ShellResult {
        run(plugin: plugin, command: command, containerID: containerID, netns: netns.path, ifname: ifname,
            cniPath: cniPath, args: args, stdin: Array(stdin.utf8), extraEnv: extraEnv, timeout: timeout)
    }

    /// Parses a plugin's stdout as a JSON object (a result or a CNI error).
    public static func json(_ stdout: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        guard let object = value as? [String: Any] else {
            throw ShellError(argv: ["<cni plugin>"], status: 0, stdout: stdout, stderr: "stdout is not a JSON object")
        }
        return object
    }
}
