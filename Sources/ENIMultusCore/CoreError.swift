import Platform
import AgentProtocol
import CNI
import IPAM
import Netlink
import ENIAddressing

/// Errors of the plugin core (link selection, the interface drivers, CHECK).
public enum CoreError: Error, CustomStringConvertible {
    /// `CNI_NETNS` cannot be opened or is not a network namespace.
    case badNetns(path: String, reason: String)
    case masterNotFound(String)
    case deviceNotFound(String)
    case ambiguous(String)
    case primaryRefused(field: String, name: String)
    case ifnameExists(name: String, netns: String)
    /// A netlink step failed; `step` says which.
    case link(step: String, NetlinkError)
    case checkFailed(String)
    case prevResultRequired(String)
    case unsupported(String)
    case io(String)

    public var description: String {
        switch self {
        case .badNetns(let p, let r): return "CNI_NETNS \"\(p)\": \(r)"
        case .masterNotFound(let s): return s
        case .deviceNotFound(let s): return s
        case .ambiguous(let s): return s
        case .primaryRefused(let f, let n):
            return "\(f) \"\(n)\" is the node's primary interface (it carries the default route); refusing to use it (set \"allowPrimary\": true to override)"
        case .ifnameExists(let n, let ns): return "interface \"\(n)\" already exists in \(ns)"
        case .link(let step, let e): return "\(step): \(e)"
        case .checkFailed(let s): return "CHECK: \(s)"
        case .prevResultRequired(let v): return "\(v) requires prevResult in the network config"
        case .unsupported(let s): return s
        case .io(let s): return s
        }
    }
}

/// The single place where every module's typed error becomes the CNI wire error.
func cniError(for error: any Error) -> CNIError {
    switch error {
    case let e as CNIError:
        return e
    case let e as CoreError:
        switch e {
        case .badNetns: return CNIError(.invalidEnvironment, e.description)
        case .masterNotFound, .deviceNotFound, .ambiguous, .primaryRefused:
            return CNIError(.invalidConfig, e.description)
        case .ifnameExists: return CNIError(.invalidEnvironment, e.description)
        case .link(_, let nl):
            return CNIError(.linkFailure, e.description, details: nl.extAck.map { "kernel: \($0)" } ?? "errno \(nl.errno)")
        case .checkFailed: return CNIError(rawCode: 105, e.description)
        case .prevResultRequired: return CNIError(.invalidConfig, e.description)
        case .unsupported: return CNIError(.unsupportedField, e.description)
        case .io: return CNIError(.ioFailure, e.description)
        }
    case let e as FileError:
        return CNIError(.ioFailure, e.description)
    case let e as AddressInUse:
        return CNIError(.ipamConflict, e.description)
    case let e as IPAMError:
        switch e {
        case .file: return CNIError(.ioFailure, e.description)
        case .exhausted: return CNIError(.ipamExhausted, e.description)
        case .requestedUnavailable, .duplicateAllocation: return CNIError(.ipamConflict, e.description)
        case .requestedOutOfRange, .requestedTwice, .requestedInvalid: return CNIError(.invalidConfig, e.description)
        case .checkFailed: return CNIError(rawCode: 105, "CHECK: " + e.description)
        case .delegateFailed(_, let code, _, let details): return CNIError(rawCode: code, e.description, details: details)
        case .delegateUnusable: return CNIError(.delegateFailure, e.description)
        }
    case let e as RegistrationError:
        switch e {
        case .noENI, .refused, .needsENI: return CNIError(.invalidConfig, e.description)
        case .foreignHolder: return CNIError(.ipamConflict, e.description)
        case .notConfirmed: return CNIError(.tryAgainLater, e.description)
        case .eniFull: return CNIError(.ipamExhausted, e.description)
        }
    case let e as EC2CallFailure:
        // Throttling, 5xx, timeouts, an exhausted deadline: the runtime should retry later (code 11).
        return CNIError(e.tryAgainLater ? .tryAgainLater : .ec2Failure, e.message)
    case let e as AgentUnreachable:
        // Nothing was done for this request; the agent may be restarting.
        return CNIError(.tryAgainLater, e.description)
    case let e as NetlinkError:
        return CNIError(.linkFailure, e.description, details: e.extAck.map { "kernel: \($0)" } ?? "")
    default:
        return CNIError(.internalFailure, "\(error)")
    }
}
