import AWS
import Platform

/// Everything `eni-multus-node` fails with. Descriptions name the ENI/subnet/AWS code an operator searches for.
public enum NodeError: Error, Sendable, CustomStringConvertible {
    /// Bad configuration or flags (exit code 2).
    case config(String)
    /// An EC2 or IMDS call failed; `context` says which step.
    case aws(context: String, AWSError)
    /// The ENI's link did not appear or could not be configured.
    case link(String)
    /// A file could not be read or written.
    case io(String)
    /// EC2 state that makes the step impossible (limits, AZ mismatch, ambiguous selector).
    case state(String)

    public var description: String {
        switch self {
        case .config(let s): return "configuration: \(s)"
        case .aws(let ctx, let e): return "\(ctx): \(e)"
        case .link(let s): return "link: \(s)"
        case .io(let s): return s
        case .state(let s): return s
        }
    }

    /// The process exit status for this error.
    public var exitCode: Int32 {
        switch self {
        case .config: return 2
        default: return 1
        }
    }
}

/// Runs an AWS call, wrapping its error with the step it belongs to.
@inline(__always)
func aws<T>(_ context: @autoclosure () -> String, _ body: () throws(AWSError) -> T) throws(NodeError) -> T {
    do { return try body() } catch { throw .aws(context: context(), error) }
}

/// Runs file work inside NodeError's typed throws.
@inline(__always)
@discardableResult
func io<T: ~Copyable>(_ body: @autoclosure () throws(FileError) -> T) throws(NodeError) -> T {
    do { return try body() } catch { throw .io(error.description) }
}
