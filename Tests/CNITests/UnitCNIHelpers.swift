import CNI
import JSON
import Testing

/// Runs `body` and returns the CNI error it threw (nil if it did not throw).
func cniError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CNIError? {
    do {
        try body()
        return nil
    } catch let e as CNIError {
        return e
    } catch {
        Issue.record("expected a CNIError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
