import Platform
import CNI
import JSON

/// The plugin's protocol core: one call per invocation, pure input → output, so tests run it in-process.
public enum Plugin {
    public static let name = "eni-multus"
    public static let buildVersion = "0.1.0"

    public static func run(_ env: PluginEnvironment) -> PluginOutput {
        let started = env.monotonicNanos()
        var errorVersion = CNIVersion.v1_1_0.rawValue
        var log = EventLog(path: nil, level: .error, wallClock: env.wallClock, base: JSONObject())
        var command: CNICommand?
        do {
            command = try CNIEnvironment.command(from: env.variables)
            guard let command else {
                let about = "CNI \(name) plugin version \(buildVersion)\nCNI protocol versions supported: \(CNIVersion.supportedStrings.joined(separator: ", "))\n"
                return PluginOutput(stdout: "", stderr: about, exitCode: 0)
            }
            if command == .version { return versionOutput() }

            // The environment is validated first (code 4), as the Go skel does; the stdin is parsed before only
            // to learn which version to print an error in.
            let parsed = Result { () throws(JSONError) -> JSON in try JSON.parse(env.stdin) }
            if case .success(let j) = parsed, let v = j["cniVersion"]?.stringValue, CNIVersion(rawValue: v) != nil {
                errorVersion = v
            }
            let cniEnv = try CNIEnvironment(env.variables, command: command)
            let json: JSON
            switch parsed {
            case .success(let j): json = j
            case .failure(let e): throw CNIError(.decodeFailure, "the network config on stdin is not valid JSON: \(e)")
            }
            guard json.objectValue != nil else {
                throw CNIError(.decodeFailure, "the network config on stdin must be a JSON object, not \(json.typeName)")
            }
            if let v = json["cniVersion"], !v.isNull, v.stringValue == nil {
                throw CNIError(.decodeFailure, "cniVersion must be a string, not \(v.typeName) \(v.serialized())")
            }
            let version = try CNIVersion.resolve(json["cniVersion"]?.stringValue)
            switch command {
            case .check where !version.hasCheck:
                throw CNIError(.incompatibleVersion, "CHECK needs cniVersion 0.4.0 or newer; the config says \(version.rawValue)")
            case .status where !version.hasStatusAndGC, .gc where !version.hasStatusAndGC:
                throw CNIError(.incompatibleVersion, "\(command.rawValue) needs cniVersion 1.1.0 or newer; the config says \(version.rawValue)")
            default: break
            }
            let conf = try NetConf(json: json, command: command)
            var base = JSONObject()
            base["verb"] = .string(command.rawValue)
            base["network"] = .string(conf.name)
            if !cniEnv.containerID.isEmpty { base["containerID"] = .string(cniEnv.containerID) }
            if !cniEnv.ifname.isEmpty { base["ifname"] = .string(cniEnv.ifname) }
            if conf.role == .ipam { base["role"] = .string("ipam") }
            log = EventLog(path: conf.logFile, level: conf.logLevel, wallClock: env.wallClock, base: base)

            let invocation = Invocation(env: env, cni: cniEnv, conf: conf, version: version, log: log)
            var stdout = ""
            switch command {
            case .add:
                let result = try invocation.add()
                stdout = result.json(version: version).serialized(indent: 4) + "\n"
            case .del: try invocation.del()
            case .check: try invocation.check()
            case .status: try invocation.status()
            case .gc: try invocation.gc()
            case .version: break
            }
            log.write(.info, "done", ["outcome": "ok", "durationMs": duration(env, started)])
            return PluginOutput(stdout: stdout, stderr: "", exitCode: 0)
        } catch {
            let e = cniError(for: error).clamped()
            log.write(.error, e.msg, ["outcome": "error", "code": .number(JSONNumber(e.code)),
                                      "durationMs": duration(env, started)])
            return PluginOutput(stdout: e.json(cniVersion: errorVersion).serialized(indent: 4) + "\n",
                                stderr: "\(name): \(e)\n", exitCode: 1)
        }
    }

    /// VERSION's answer, a constant (the versions are fixed at build time; a unit test checks that it is exactly
    /// the JSON built from `CNIVersion`). `main.swift` prints it before building anything else: podman asks for
    /// VERSION before every ADD and DEL, and this keeps that exec to the process start-up.
    public static let versionText: StaticString = #"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\#n"#

    /// The same object built from `CNIVersion` (what `versionText` must equal).
    public static func versionJSON() -> String {
        var o = JSONObject()
        o["cniVersion"] = .string(CNIVersion.v1_1_0.rawValue)
        o["supportedVersions"] = .array(CNIVersion.supportedStrings.map { .string($0) })
        return JSON.object(o).serialized() + "\n"
    }

    static func versionOutput() -> PluginOutput {
        PluginOutput(stdout: versionText.description, stderr: "", exitCode: 0)
    }

    static func duration(_ env: PluginEnvironment, _ started: UInt64) -> JSON {
        let us = (env.monotonicNanos() &- started) / 1000
        return .number(JSONNumber(text: "\(us / 1000).\(String(repeating: "0", count: 3 - String(us % 1000).count))\(us % 1000)")!)
    }
}
