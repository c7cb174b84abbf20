#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Platform

/// Errors of the IPAM module: the store on disk, allocation, and delegated IPAM plugins.
public enum IPAMError: Error, Sendable, CustomStringConvertible {
    /// A file-system call on the store failed.
    case file(FileError)
    /// No free address left in a range set.
    case exhausted(rangeSet: Int, ranges: String)
    /// A requested address is held by another attachment (or is the gateway / network address).
    case requestedUnavailable(address: String, reason: String)
    /// A requested address is in no configured range set.
    case requestedOutOfRange(address: String)
    /// A requested address that no attachment can ever get (gateway, network, broadcast, wrong prefix length).
    case requestedInvalid(address: String, reason: String)
    /// Two requested addresses fall in the same range set.
    case requestedTwice(rangeSet: Int, addresses: String)
    /// The attachment already holds addresses in this network.
    case duplicateAllocation(containerID: String, ifname: String, addresses: String)
    /// CHECK found the reservation missing or different.
    case checkFailed(String)
    /// The delegated IPAM plugin answered with a CNI error.
    case delegateFailed(plugin: String, code: Int, msg: String, details: String)
    /// The delegated IPAM plugin could not be found or run, or printed something that is not a result.
    case delegateUnusable(plugin: String, reason: String)

    public var description: String {
        switch self {
        case .file(let e): return e.description
        case .exhausted(let i, let r): return "no IP addresses available in range set \(i) (\(r))"
        case .requestedUnavailable(let a, let why): return "requested IP address \(a) is not available: \(why)"
        case .requestedOutOfRange(let a): return "requested IP address \(a) is in no configured range"
        case .requestedInvalid(let a, let why): return "requested IP address \(a) cannot be assigned: \(why)"
        case .requestedTwice(let i, let a): return "requested IP addresses \(a) fall in the same range set \(i); one per range set"
        case .duplicateAllocation(let c, let i, let a):
            return "container \(c) interface \(i) already holds \(a) in this network; DEL it first"
        case .checkFailed(let s): return s
        case .delegateFailed(let p, _, let m, _): return "IPAM plugin \(p): \(m)"
        case .delegateUnusable(let p, let r): return "IPAM plugin \(p): \(r)"
        }
    }
}


/// Runs store file work inside IPAM's typed throws.
@inline(__always)
@discardableResult
func file<T: ~Copyable>(_ body: @autoclosure () throws(FileError) -> T) throws(IPAMError) -> T {
    do { return try body() } catch { throw .file(error) }
}
