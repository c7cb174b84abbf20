/// `application/x-www-form-urlencoded` bodies and query strings the way AWS signs them: RFC 3986 percent-encoding
/// of every byte outside the unreserved set `A-Z a-z 0-9 - _ . ~` (upper-case hex, a space is `%20`, never `+`).
public enum QueryEncoding {
    /// `k1=v1&k2=v2`, in the given order, each name and value percent-encoded.
    public static func encode(_ params: [(String, String)]) -> String {
        var out = ""
        for (i, (k, v)) in params.enumerated() {
            if i > 0 { out += "&" }
            out += percentEncode(k)
            out += "="
            out += percentEncode(v)
        }
        return out
    }

    /// Percent-encodes every UTF-8 byte outside the unreserved set; with `keepSlash`, `/` too stays (paths).
    public static func percentEncode(_ string: String, keepSlash: Bool = false) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count)
        for b in string.utf8 {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (`+` stays `+`). Malformed escapes are kept literally; invalid UTF-8 is repaired.
    public static func percentDecode(_ string: Substring) -> String {
        let bytes = Array(string.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count {
                if let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
                    out.append(h << 4 | l)
                    i += 3
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits `a=1&b=2` into decoded pairs (a name without `=` has an empty value; empty pieces are skipped).
    public static func decode(_ query: String) -> [(String, String)] {
        var out: [(String, String)] = []
        for piece in query.split(separator: "&", omittingEmptySubsequences: true) {
            if let eq = piece.firstIndex(of: "=") {
                out.append((percentDecode(piece[..<eq]), percentDecode(piece[piece.index(after: eq)...])))
            } else {
                out.append((percentDecode(piece), ""))
            }
        }
        return out
    }

    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
             UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
