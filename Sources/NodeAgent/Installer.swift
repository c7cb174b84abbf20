import Glibc
import JSON
import Platform

/// `eni-multus-node install`: copies the plugin binary into the host's CNI bin directory atomically (temp file in
/// the same directory, chmod 0755, fsync, rename), so kubelet/Multus never exec a half-written binary; optionally
/// installs a CNI configuration file (validated JSON) the same way.
public struct Installer {
    public var paths: NodePaths
    public var log: (String) -> Void

    public init(paths: NodePaths, log: @escaping (String) -> Void) {
        self.paths = paths
        self.log = log
    }

    public struct Result: Sendable, Equatable {
        public var binary: String
        public var binaryChanged: Bool
        public var conf: String?
        public var confChanged: Bool
    }

    /// - Parameters:
    ///   - source: the plugin binary in the image (`/opt/eni-multus/bin/eni-multus`).
    ///   - binDir: host CNI bin directory (below `hostRoot`), e.g. `/opt/cni/bin`.
    ///   - confSource/confDir: a conf (JSON `.conf`/`.conflist`) to install into `confDir` under its own name.
    public func install(source: String, binDir: String, name: String = "eni-multus", confSource: String? = nil,
                        confDir: String? = nil) throws(NodeError) -> Result
    {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { throw .config("bad binary name \"\(name)\"") }
        let bytes = try io(FileIO.contents(source, limit: 256 << 20))
        guard bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw .config("\(source) is not an ELF executable")
        }
        let dir = paths.host(binDir)
        try io(FileIO.makeDirectories(dir, mode: 0o755))
        let dest = dir + "/" + name
        var changed = true
        if FileIO.exists(dest), let old = try? FileIO.read(dest, limit: 256 << 20), old == bytes, FileIO.mode(dest) == 0o755 {
            changed = false
            log("\(dest) is already this binary")
        } else {
            try io(FileIO.writeAtomically(dest, bytes, .durable, mode: 0o755, unlocked: true))
            log("installed \(dest) (\(bytes.count) bytes, 0755, atomic rename)")
        }
        var result = Result(binary: dest, binaryChanged: changed, conf: nil, confChanged: false)
        if let confSource {
            guard let confDir else { throw .config("a conf to install needs --cni-conf-dir") }
            let text = try io(FileIO.contents(confSource))
            let json: JSON
            do { json = try JSON.parse(text) } catch { throw .config("\(confSource) is not valid JSON: \(error)") }
            guard json["cniVersion"]?.stringValue != nil, json["name"]?.stringValue != nil,
                  json["type"]?.stringValue != nil || json["plugins"]?.arrayValue != nil
            else { throw .config("\(confSource) is not a CNI configuration (cniVersion, name, type or plugins)") }
            let base = FileIO.baseName(confSource)
            let cdir = paths.host(confDir)
            try io(FileIO.makeDirectories(cdir, mode: 0o755))
            let cdest = cdir + "/" + base
            result.conf = cdest
            if FileIO.exists(cdest), (try? FileIO.read(cdest)) == text {
                log("\(cdest) is already this configuration")
            } else {
                try io(FileIO.writeAtomically(cdest, text, .durable, mode: 0o644, unlocked: true))
                result.confChanged = true
                log("installed \(cdest)")
            }
        }
        return result
    }
}
