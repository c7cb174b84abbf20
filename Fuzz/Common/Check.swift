// Shared by every fuzz target (compiled into each one by scripts/fuzz.sh).
#if canImport(Glibc)
import Glibc
#endif

/// An invariant of the code under test: on failure, name it on stderr and abort, so libFuzzer records the input
/// as a crash (`crash-<sha1>` in the artifact directory) and the run fails.
@inline(__always)
func fuzzCheck(_ condition: Bool, _ what: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition {
        fputs("fuzz invariant violated at \(file):\(line): \(what())\n", stderr)
        abort()
    }
}

/// The input as a byte array (libFuzzer passes a null pointer for the empty input).
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Whether a path names `..` as one of its components, as the kernel splits it: on the byte `/`. (Character-level
/// splitting would not see `/..` followed by a combining mark, which forms one grapheme with the slash.)
func fuzzHasDotDotComponent(_ path: String) -> Bool {
    path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        .contains { $0.elementsEqual("..".utf8) }
}
