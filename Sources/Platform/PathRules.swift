/// The one check of paths that come from configuration and are opened as root. Components are compared as bytes, as
/// the kernel sees them: split by Character, "/" followed by a combining mark is one grapheme, and "/a/../\u{301}x"
/// would hide its "..". A NUL would silently cut the path short.
public enum PathRules {
    /// An absolute path with no ".." component and no NUL.
    public static func isAbsoluteWithoutDotDot(_ path: String) -> Bool {
        path.utf8.first == UInt8(ascii: "/") && !path.utf8.contains(0) && !hasDotDot(path)
    }

    /// A relative path that stays below the directory it is joined to: not empty, no leading "/", no empty or ".."
    /// component, no NUL.
    public static func isRelativeBelow(_ path: String) -> Bool {
        !path.isEmpty && path.utf8.first != UInt8(ascii: "/") && !path.utf8.contains(0)
            && !path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                .contains { $0.isEmpty || $0.elementsEqual("..".utf8) }
    }

    static func hasDotDot(_ path: String) -> Bool {
        path.utf8.split(separator: UInt8(ascii: "/")).contains { $0.elementsEqual("..".utf8) }
    }
}
