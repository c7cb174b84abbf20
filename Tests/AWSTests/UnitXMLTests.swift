import Testing
@testable import AWS

@Suite struct UnitXMLTests {
    @Test("elements, attributes, text and nesting")
    func basic() throws {
        let root = try XMLParser.parse("<a x=\"1\" y='two'><b>hello</b><c/><b>again</b></a>")
        #expect(root.name == "a")
        #expect(root.attributes == ["x": "1", "y": "two"])
        #expect(root.children.map(\.name) == ["b", "c", "b"])
        #expect(root.string("b") == "hello")
        #expect(root.children(named: "b").map(\.text) == ["hello", "again"])
        #expect(root.child("c")?.text == "")
        #expect(root.child("missing") == nil)
    }

    @Test("default namespace and prefixes are ignored: local names only")
    func namespaces() throws {
        let doc = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ec2:DescribeSubnetsResponse xmlns:ec2="http://ec2.amazonaws.com/doc/2016-11-15/">
              <ec2:subnetSet><ec2:item><ec2:subnetId>subnet-1</ec2:subnetId></ec2:item></ec2:subnetSet>
            </ec2:DescribeSubnetsResponse>
            """
        let root = try XMLParser.parse(doc)
        #expect(root.name == "DescribeSubnetsResponse")
        #expect(root.items("subnetSet").first?.string("subnetId") == "subnet-1")
        let plain = try XMLParser.parse("<R xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><v>1</v></R>")
        #expect(plain.name == "R")
        #expect(plain.string("v") == "1")
    }

    @Test("predefined entities, character references and CDATA expand")
    func predefinedEntities() throws {
        let root = try XMLParser.parse("<m>a &amp; b &lt;c&gt; &quot;d&apos; &#65;&#x42; <![CDATA[<raw>&]]></m>")
        #expect(root.text == "a & b <c> \"d' AB <raw>&")
    }

    @Test("UTF-8 text survives, including text split across expat callbacks")
    func utf8() throws {
        let long = String(repeating: "é—✓", count: 5000)
        let root = try XMLParser.parse("<d>\(long)</d>")
        #expect(root.text == long)
    }

    @Test("a DOCTYPE is refused: billion laughs never expands")
    func billionLaughs() {
        let lol = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [
              <!ENTITY lol "lol">
              <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
              <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
              <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
            ]>
            <lolz>&lol4;</lolz>
            """
        #expect(throws: XMLError.doctypeForbidden) { try XMLParser.parse(lol) }
    }

    @Test("external entities and bare DOCTYPEs are refused")
    func externalEntity() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>"
        #expect(throws: XMLError.doctypeForbidden) { try XMLParser.parse(xxe) }
        #expect(throws: XMLError.doctypeForbidden) { try XMLParser.parse("<!DOCTYPE r><r/>") }
    }

    @Test("an undeclared entity is malformed")
    func undeclaredEntity() {
        #expect(throws: XMLError.self) { try XMLParser.parse("<r>&nbsp;</r>") }
        do throws(XMLError) {
            _ = try XMLParser.parse("<r>&nbsp;</r>")
        } catch {
            guard case .malformed = error else { Issue.record("expected malformed, got \(error)"); return }
        }
    }

    @Test("nesting deeper than the limit is refused; the limit itself is accepted")
    func depth() throws {
        let ok = String(repeating: "<a>", count: 64) + String(repeating: "</a>", count: 64)
        _ = try XMLParser.parse(ok)
        let deep = String(repeating: "<a>", count: 65) + String(repeating: "</a>", count: 65)
        #expect(throws: XMLError.tooDeep(64)) { try XMLParser.parse(deep) }
        let veryDeep = String(repeating: "<a>", count: 100_000)
        #expect(throws: XMLError.tooDeep(10)) { try XMLParser.parse(Array(veryDeep.utf8), maxDepth: 10) }
    }

    @Test("documents over the size limit are refused before parsing")
    func size() {
        let big = Array("<a>".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 2000) + Array("</a>".utf8)
        #expect(throws: XMLError.tooLarge(1000)) { try XMLParser.parse(big, maxBytes: 1000) }
    }

    @Test("malformed documents", arguments: [
        "", "<a>", "<a></b>", "<a><b></a></b>", "not xml", "<a/><b/>", "<a x=1/>", "<a>\u{0}</a>",
        "<html><body>502 Bad Gateway</body>",
    ])
    func malformed(_ doc: String) {
        #expect(throws: XMLError.self) { try XMLParser.parse(doc) }
    }

    @Test("error descriptions name the problem and line")
    func errorDescription() {
        do throws(XMLError) {
            _ = try XMLParser.parse("<a>\n<b>\n</a>")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("malformed XML"))
            #expect(error.description.contains("line 3"))
        }
    }

    @Test("path, first and items helpers")
    func helpers() throws {
        let root = try XMLParser.parse("""
            <r><x><attachment><deviceIndex>1</deviceIndex></attachment></x>\
            <groupSet><item><groupId>sg-1</groupId></item><item><groupId>sg-2</groupId></item></groupSet></r>
            """)
        #expect(root.path("x", "attachment", "deviceIndex")?.text == "1")
        #expect(root.first("deviceIndex")?.text == "1")
        #expect(root.items("groupSet").compactMap { $0.string("groupId") } == ["sg-1", "sg-2"])
        #expect(root.items("nothing").isEmpty)
    }

    @Test("whitespace between elements stays out of leaf values")
    func whitespace() throws {
        let root = try XMLParser.parse("<r>\n  <v>  padded  </v>\n</r>")
        #expect(root.string("v") == "  padded  ")
        #expect(root.children.count == 1)
    }
}
