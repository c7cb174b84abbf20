/// The verbs of the CNI specification.
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", status = "STATUS", gc = "GC"
}

/// The `CNI_*` environment of one invocation, validated per verb as the spec and the Go skel do.
public struct CNIEnvironment: Sendable {
    public var command: CNICommand
    public var containerID: String
    public var netns: String
    public var ifname: String
    public var args: CNIArgs
    /// `CNI_PATH` split on `:` (empty entries dropped).
    public var path: [String]
    /// The raw variables, passed on to a delegated IPAM plugin.
    public var raw: [String: String]

    /// Validates `CNI_COMMAND` only (VERSION and the empty-command "about" path need nothing else).
    public static func command(from env: [String: String]) throws(CNIError) -> CNICommand? {
        guard let c = env["CNI_COMMAND"], !c.isEmpty else { return nil }
        guard let cmd = CNICommand(rawValue: c) else {
            throw CNIError(.invalidEnvironment, "CNI_COMMAND \"\(c)\" is not one of ADD, DEL, CHECK, VERSION, STATUS, GC")
        }
        return cmd
    }

    public init(_ env: [String: String], command: CNICommand) throws(CNIError) {
        self.command = command
        self.raw = env
        containerID = env["CNI_CONTAINERID"] ?? ""
        netns = env["CNI_NETNS"] ?? ""
        ifname = env["CNI_IFNAME"] ?? ""
        path = (env["CNI_PATH"] ?? "").split(separator: ":").map(String.init)
        args = CNIArgs()

        let perAttachment = command == .add || command == .del || command == .check
        if perAttachment {
            guard !containerID.isEmpty else {
                throw CNIError(.invalidEnvironment, "CNI_CONTAINERID is required for \(command.rawValue)")
            }
            try Self.validateContainerID(containerID)
            if command != .del && netns.isEmpty {
                throw CNIError(.invalidEnvironment, "CNI_NETNS is required for \(command.rawValue)")
            }
            guard !ifname.isEmpty else {
                throw CNIError(.invalidEnvironment, "CNI_IFNAME is required for \(command.rawValue)")
            }
            try Self.validateInterfaceName(ifname)
            args = try CNIArgs(parsing: env["CNI_ARGS"] ?? "")
        }
        if command != .version && (env["CNI_PATH"] ?? "").isEmpty {
            throw CNIError(.invalidEnvironment, "CNI_PATH is required for \(command.rawValue)")
        }
    }

    /// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`: the pattern the spec gives container IDs and network names (both become
    /// parts of file names here, so this also rules out `/`, `..` and NUL). Byte-wise: a Character-wise test would
    /// let a combining mark ride on an allowed letter.
    public static func matchesSpecNamePattern(_ s: String) -> Bool {
        func ok(_ c: UInt8, first: Bool) -> Bool {
            switch c {
            case 48...57, 65...90, 97...122: return true
            case 95, 46, 45: return !first
            default: return false
            }
        }
        let u = s.utf8
        guard let f = u.first, ok(f, first: true) else { return false }
        return u.dropFirst().allSatisfy { ok($0, first: false) }
    }

    /// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, as the spec requires.
    public static func validateContainerID(_ id: String) throws(CNIError) {
        guard matchesSpecNamePattern(id) else {
            throw CNIError(.invalidEnvironment,
                           "CNI_CONTAINERID \"\(id)\" is invalid: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
        }
    }

    /// Linux interface names: 1–15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
    public static func validateInterfaceName(_ name: String, variable: String = "CNI_IFNAME") throws(CNIError) {
        let u = Array(name.utf8)
        if u.isEmpty || u.count > 15 {
            throw CNIError(.invalidEnvironment,
                           "\(variable) \"\(name)\" is invalid: an interface name has 1 to 15 bytes (has \(u.count))")
        }
        if name == "." || name == ".." {
            throw CNIError(.invalidEnvironment, "\(variable) \"\(name)\" is invalid: \".\" and \"..\" are not interface names")
        }
        if let bad = u.first(where: { $0 == 47 || $0 == 58 || $0 == 32 || ($0 >= 9 && $0 <= 13) || $0 == 0 }) {
            let what = bad == 47 ? "'/'" : bad == 58 ? "':'" : bad == 0 ? "NUL" : "whitespace"
            throw CNIError(.invalidEnvironment, "\(variable) \"\(name)\" is invalid: it contains \(what)")
        }
    }
}
