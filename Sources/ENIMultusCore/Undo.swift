/// Every mutation registers how to undo it; on failure the undos run in reverse, all of them, even when one fails.
final class UndoStack {
    private var steps: [(what: String, undo: () throws -> Void)] = []
    private(set) var failures: [String] = []

    func push(_ what: String, _ undo: @escaping () throws -> Void) {
        steps.append((what, undo))
    }

    /// Runs every undo in reverse order. Failures are collected (for the log and the error's details).
    func rollback() {
        while let s = steps.popLast() {
            do { try s.undo() } catch { failures.append("undo \(s.what): \(error)") }
        }
    }

    /// The operation succeeded: forget the undos.
    func commit() { steps.removeAll() }

    var isEmpty: Bool { steps.isEmpty }
}
