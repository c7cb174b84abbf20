/// A minimal XML DOM for AWS Query responses, built with expat.
///
/// Names are local names: a namespace prefix (`ec2:item`) is stripped and namespace URIs are ignored, so the same
/// lookups work whether or not a response declares `xmlns`. Text is the element's own character data
/// (concatenated, entities and CDATA already resolved by expat); for leaf elements that is the value.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var attributes: [String: String]
    public var text: String
    public var children: [XMLElement]

    public init(name: String, attributes: [String: String] = [:], text: String = "", children: [XMLElement] = []) {
        self.name = name
        self.attributes = attributes
        self.text = text
        self.children = children
    }

    /// The first child with this local name.
    public func child(_ name: String) -> XMLElement? {
        children.first { $0.name == name }
    }

    /// All children with this local name.
    public func children(named name: String) -> [XMLElement] {
        children.filter { $0.name == name }
    }

    /// Follows a path of child names: `element.path("attachment", "deviceIndex")`.
    public func path(_ names: String...) -> XMLElement? {
        var e: XMLElement? = self
        for n in names { e = e?.child(n) }
        return e
    }

    /// The text of the first child with this name (`nil` when the child is absent).
    public func string(_ name: String) -> String? {
        child(name)?.text
    }

    /// The `item` children of the named list child (`<groupSet><item>…</item></groupSet>`); empty when absent.
    public func items(_ listName: String) -> [XMLElement] {
        child(listName)?.children(named: "item") ?? []
    }

    /// The first element with this name in a depth-first, document-order walk (self included).
    public func first(_ name: String) -> XMLElement? {
        if self.name == name { return self }
        for c in children {
            if let hit = c.first(name) { return hit }
        }
        return nil
    }
}

public enum XMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// expat could not be loaded.
    case unavailable(String)
    /// Not well-formed XML (expat's message and line).
    case malformed(String)
    /// A document type declaration: never sent by AWS, and the door to entity expansion attacks.
    case doctypeForbidden
    /// Nesting deeper than the limit.
    case tooDeep(Int)
    /// More bytes than the limit.
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .unavailable(let s): return "XML parser unavailable: \(s)"
        case .malformed(let s): return "malformed XML: \(s)"
        case .doctypeForbidden: return "XML with a DOCTYPE declaration is refused"
        case .tooDeep(let n): return "XML nested deeper than \(n) levels"
        case .tooLarge(let n): return "XML document larger than \(n) bytes"
        }
    }
}

public enum XMLParser {
    /// Parses a complete document into its root element.
    ///
    /// Refuses any DOCTYPE (so no internal or external entities can be declared: only the five predefined ones
    /// and character references expand), nesting beyond `maxDepth` and input beyond `maxBytes`.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64, maxBytes: Int = 8 << 20)
        throws(XMLError) -> XMLElement
    {
        guard bytes.count <= maxBytes, bytes.count <= Int(Int32.max) else { throw .tooLarge(maxBytes) }
        guard !bytes.isEmpty else { throw .malformed("empty document") }
        let expat: Expat
        switch Expat.shared {
        case .success(let e): expat = e
        case .failure(let e): throw e
        }
        guard let parser = expat.parserCreate(nil) else { throw .unavailable("XML_ParserCreate failed") }
        defer { expat.parserFree(parser) }

        let builder = TreeBuilder(expat: expat, parser: parser, maxDepth: maxDepth)
        let unmanaged = Unmanaged.passRetained(builder)
        defer { unmanaged.release() }
        expat.setUserData(parser, unmanaged.toOpaque())
        expat.setElementHandler(parser, { ud, name, atts in
            TreeBuilder.from(ud).start(name: name, attributes: atts)
        }, { ud, _ in
            TreeBuilder.from(ud).end()
        })
        expat.setCharacterDataHandler(parser, { ud, s, len in
            TreeBuilder.from(ud).characters(s, Int(len))
        })
        expat.setStartDoctypeDeclHandler(parser, { ud, _, _, _, _ in
            TreeBuilder.from(ud).abort(.doctypeForbidden)
        })
        expat.setEntityDeclHandler(parser, { ud, _, _, _, _, _, _, _, _ in
            TreeBuilder.from(ud).abort(.doctypeForbidden)
        })

        let status = bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                expat.parse(parser, $0, CInt(buf.count), 1)
            }
        }
        if let failure = builder.failure { throw failure }
        if status != 1 {  // XML_STATUS_OK
            let code = expat.getErrorCode(parser)
            let message = expat.errorString(code).map { String(cString: $0) } ?? "error \(code)"
            throw .malformed("\(message) at line \(expat.getCurrentLineNumber(parser))")
        }
        guard let root = builder.root else { throw .malformed("no root element") }
        return root
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws(XMLError) -> XMLElement {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

/// Collects expat's callbacks into `XMLElement`s.
private final class TreeBuilder {
    let expat: Expat
    let parser: Expat.Parser
    let maxDepth: Int
    var stack: [XMLElement] = []
    var textBytes: [[UInt8]] = []
    var root: XMLElement?
    var failure: XMLError?

    init(expat: Expat, parser: Expat.Parser, maxDepth: Int) {
        self.expat = expat
        self.parser = parser
        self.maxDepth = maxDepth
    }

    static func from(_ ud: UnsafeMutableRawPointer?) -> TreeBuilder {
        Unmanaged<TreeBuilder>.fromOpaque(ud!).takeUnretainedValue()
    }

    func abort(_ error: XMLError) {
        guard failure == nil else { return }
        failure = error
        _ = expat.stopParser(parser, 0)
    }

    static func localName(_ raw: String) -> String {
        guard let colon = raw.lastIndex(of: ":") else { return raw }
        return String(raw[raw.index(after: colon)...])
    }

    func start(name: UnsafePointer<CChar>?, attributes: UnsafeMutablePointer<UnsafePointer<CChar>?>?) {
        guard failure == nil else { return }
        if stack.count >= maxDepth {
            abort(.tooDeep(maxDepth))
            return
        }
        var attrs: [String: String] = [:]
        if let attributes {
            var i = 0
            while let k = attributes[i], let v = attributes[i + 1] {
                attrs[String(cString: k)] = String(cString: v)
                i += 2
            }
        }
        let raw = name.map { String(cString: $0) } ?? ""
        stack.append(XMLElement(name: Self.localName(raw), attributes: attrs))
        textBytes.append([])
    }

    func characters(_ s: UnsafePointer<CChar>?, _ len: Int) {
        guard failure == nil, let s, len > 0, !textBytes.isEmpty else { return }
        s.withMemoryRebound(to: UInt8.self, capacity: len) {
            textBytes[textBytes.count - 1].append(contentsOf: UnsafeBufferPointer(start: $0, count: len))
        }
    }

    func end() {
        guard failure == nil, var element = stack.popLast(), let bytes = textBytes.popLast() else { return }
        element.text = String(decoding: bytes, as: UTF8.self)
        if stack.isEmpty {
            root = element
        } else {
            stack[stack.count - 1].children.append(element)
        }
    }
}
