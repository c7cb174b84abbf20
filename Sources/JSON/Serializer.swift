extension JSON {
    /// Compact text: no whitespace, object members in stored order, numbers as
    /// their literal text. Strings escape `"` `\` and control characters
    /// (`\b \f \n \r \t`, others as `\u00XX`); `/` and non-ASCII are written as is (UTF-8).
    public func serialized() -> String {
        var w = JSONWriter(indent: nil)
        w.write(self, level: 0)
        return String(decoding: w.out, as: UTF8.self)
    }

    /// Pretty text in the layout of Go's `json.MarshalIndent(v, "", strings.Repeat(" ", indent))`:
    /// one member or element per line, `indent` spaces per level, `": "` after
    /// keys, `{}` and `[]` for empty containers, no trailing newline.
    public func serialized(indent: Int) -> String {
        var w = JSONWriter(indent: max(0, indent))
        w.write(self, level: 0)
        return String(decoding: w.out, as: UTF8.self)
    }
}

struct JSONWriter {
    var out: [UInt8] = []
    let indent: Int?

    init(indent: Int?) {
        self.indent = indent
        out.reserveCapacity(256)
    }

    @inline(__always)
    private mutating func newline(_ level: Int) {
        guard let indent else { return }
        out.append(0x0A)
        let spaces = indent * level
        if spaces > 0 { out.append(contentsOf: repeatElement(0x20, count: spaces)) }
    }

    mutating func write(_ v: JSON, level: Int) {
        switch v {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let num):
            out.append(contentsOf: num.text.utf8)
        case .string(let s):
            writeString(s)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            if !a.isEmpty {
                var first = true
                for e in a {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    newline(level + 1)
                    write(e, level: level + 1)
                }
                newline(level)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            if !o.isEmpty {
                var first = true
                for (k, e) in o {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    newline(level + 1)
                    writeString(k)
                    out.append(UInt8(ascii: ":"))
                    if indent != nil { out.append(0x20) }
                    write(e, level: level + 1)
                }
                newline(level)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    mutating func writeString(_ s: String) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var run = 0
            var j = 0
            let n = u.count
            while j < n {
                let b = u[j]
                if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                    j += 1
                    continue
                }
                if run < j { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<j])) }
                out.append(UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: "u00".utf8)
                    out.append(contentsOf: hex2(b).utf8)
                }
                j += 1
                run = j
            }
            if run < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<n])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}
