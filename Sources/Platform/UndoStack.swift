/// Every mutation registers how to undo it; on failure the undos run in reverse, all of them, even when one fails.
/// One per operation (an ADD, an attach): not shared between threads.
public final class UndoStack {
    private var steps: [(what: String, undo: () throws -> Void)] = []
    public private(set) var failures: [String] = []

    public init() {}

    public func push(_ what: String, _ undo: @escaping () throws -> Void) {
        steps.append((what, undo))
    }

    /// Runs every undo in reverse order. Failures are collected (for the log and the error's details); `log` hears
    /// each step's outcome.
    public func rollback(log: (String) -> Void = { _ in }) {
        while let s = steps.popLast() {
            do {
                try s.undo()
                log("undone: \(s.what)")
            } catch {
                failures.append("undo \(s.what): \(error)")
                log("undo failed: \(s.what): \(error)")
            }
        }
    }

    /// Runs `body` with a fresh stack: committed when it returns, rolled back (every undo; each failure handed to
    /// `failed`, e.g. the log) when it throws.
    public static func run<R>(failed: (String) -> Void = { _ in }, _ body: (UndoStack) throws -> R) throws -> R {
        let undo = UndoStack()
        do {
            let r = try body(undo)
            undo.commit()
            return r
        } catch {
            undo.rollback()
            for f in undo.failures { failed(f) }
            throw error
        }
    }

    /// The operation succeeded: forget the undos.
    public func commit() { steps.removeAll() }

    public var isEmpty: Bool { steps.isEmpty }
}
