#if canImport(Glibc)
import Glibc
#endif
import CNI
import JSON
import Platform

/// Runs another IPAM plugin from `CNI_PATH`, as the spec describes: the same environment (with `CNI_COMMAND`
/// set) and the same stdin, its result decoded from whatever supported version it prints.
public struct DelegatedIPAM: Sendable {
    public let type: String
    public let executable: String

    /// Finds `type` in the `CNI_PATH` directories.
    public init(type: String, searchPath: [String]) throws(IPAMError) {
        guard !type.isEmpty, !type.utf8.contains(47), type != ".", type != ".." else {  // bytes: "/\u{301}" is one Character
            throw .delegateUnusable(plugin: type, reason: "ipam.type must be a plugin name, not a path")
        }
        self.type = type
        for dir in searchPath where !dir.isEmpty {
            let p = dir.hasSuffix("/") ? dir + type : dir + "/" + type
            var st = stat()
            if stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(p, X_OK) == 0 {
                executable = p
                return
            }
        }
        throw .delegateUnusable(plugin: type,
                                reason: "not found in CNI_PATH (\(searchPath.joined(separator: ":")))")
    }

    /// Runs the plugin for `command`. Returns its stdout on success; a CNI error it printed becomes `delegateFailed`.
    public func run(_ command: CNICommand, env: [String: String], stdin: [UInt8]) throws(IPAMError) -> [UInt8] {
        var e = env
        e["CNI_COMMAND"] = command.rawValue
        var out: SubprocessResult?
        // ETXTBSY: the binary is being replaced (an installer's rename, or a writer's fd inherited by a concurrent
        // fork). libcni retries this too; so do we, with a short backoff.
        for attempt in 0..<6 {
            do {
                out = try Subprocess.run([executable], environment: e, stdin: stdin)
                break
            } catch let errno {
                guard errno.code == ETXTBSY, attempt < 5 else {
                    throw .delegateUnusable(plugin: type, reason: "cannot run \(executable): \(String(cString: strerror(errno.code)))")
                }
                usleep(UInt32(20_000 << attempt))
            }
        }
        guard let out else { throw .delegateUnusable(plugin: type, reason: "cannot run \(executable)") }
        if out.status != 0 {
            if let j = try? JSON.parse(out.stdout), let code = j["code"]?.int64Value {
                throw .delegateFailed(plugin: type, code: Int(code), msg: j["msg"]?.stringValue ?? "",
                                      details: j["details"]?.stringValue ?? "")
            }
            // One line: the plugin's own error message is a single line on stderr and in `msg`.
            let err = String(decoding: out.stderr.prefix(2000), as: UTF8.self)
                .split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.allSatisfy(\.isWhitespace) }
                .joined(separator: "; ")
            throw .delegateUnusable(plugin: type, reason: "exited with status \(out.status): \(err)")
        }
        return out.stdout
    }

    /// ADD: the delegate's result.
    public func add(env: [String: String], stdin: [UInt8]) throws(IPAMError) -> CNIResult {
        let bytes = try run(.add, env: env, stdin: stdin)
        do {
            let j = try JSON.parse(bytes)
            return try CNIResult.decode(j, field: "result of IPAM plugin \(type)")
        } catch {
            throw .delegateUnusable(plugin: type, reason: "printed no usable result: \(error)")
        }
    }
}
