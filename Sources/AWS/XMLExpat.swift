import Glibc

/// expat, loaded on first use with `dlopen("libexpat.so.1")` so the plugin binary carries no DT_NEEDED on it
/// (verbs that never parse AWS XML never map it). The function types below mirror `expat.h` (expat ≥ 2.0, where
/// `XML_Char` is `char`, `XML_Bool` is `unsigned char`, `XML_Status`/`XML_Error` are `int`-sized enums and
/// `XML_Size` is `unsigned long`); no header is needed.
struct Expat: @unchecked Sendable {
    typealias Parser = OpaquePointer

    // Callbacks (expat.h: XML_StartElementHandler, XML_EndElementHandler, XML_CharacterDataHandler,
    // XML_StartDoctypeDeclHandler, XML_EntityDeclHandler).
    typealias StartElementHandler = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?
    ) -> Void
    typealias EndElementHandler = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
    typealias CharacterDataHandler = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, CInt) -> Void
    typealias StartDoctypeDeclHandler = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, CInt
    ) -> Void
    typealias EntityDeclHandler = @convention(c) (
        UnsafeMutableRawPointer?, UnsafePointer<CChar>?, CInt, UnsafePointer<CChar>?, CInt,
        UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?
    ) -> Void

    let parserCreate: @convention(c) (UnsafePointer<CChar>?) -> Parser?
    let parserFree: @convention(c) (Parser?) -> Void
    let setUserData: @convention(c) (Parser?, UnsafeMutableRawPointer?) -> Void
    let setElementHandler: @convention(c) (Parser?, StartElementHandler?, EndElementHandler?) -> Void
    let setCharacterDataHandler: @convention(c) (Parser?, CharacterDataHandler?) -> Void
    let setStartDoctypeDeclHandler: @convention(c) (Parser?, StartDoctypeDeclHandler?) -> Void
    let setEntityDeclHandler: @convention(c) (Parser?, EntityDeclHandler?) -> Void
    let parse: @convention(c) (Parser?, UnsafePointer<CChar>?, CInt, CInt) -> CInt
    let stopParser: @convention(c) (Parser?, UInt8) -> CInt
    let getErrorCode: @convention(c) (Parser?) -> CInt
    let errorString: @convention(c) (CInt) -> UnsafePointer<CChar>?
    let getCurrentLineNumber: @convention(c) (Parser?) -> UInt

    /// The library, loaded once per process; `nil` with the reason when it cannot be loaded.
    static let shared: Result<Expat, XMLError> = load()

    private static func load() -> Result<Expat, XMLError> {
        var handle: UnsafeMutableRawPointer? = nil
        for name in ["libexpat.so.1", "libexpat.so"] {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle != nil { break }
        }
        guard let handle else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(.unavailable("cannot load libexpat.so.1: \(why)"))
        }
        func sym<T>(_ name: String, _: T.Type) -> T? {
            guard let p = dlsym(handle, name) else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        guard
            let parserCreate = sym("XML_ParserCreate", (@convention(c) (UnsafePointer<CChar>?) -> Parser?).self),
            let parserFree = sym("XML_ParserFree", (@convention(c) (Parser?) -> Void).self),
            let setUserData = sym(
                "XML_SetUserData", (@convention(c) (Parser?, UnsafeMutableRawPointer?) -> Void).self),
            let setElementHandler = sym(
                "XML_SetElementHandler",
                (@convention(c) (Parser?, StartElementHandler?, EndElementHandler?) -> Void).self),
            let setCharacterDataHandler = sym(
                "XML_SetCharacterDataHandler", (@convention(c) (Parser?, CharacterDataHandler?) -> Void).self),
            let setStartDoctypeDeclHandler = sym(
                "XML_SetStartDoctypeDeclHandler",
                (@convention(c) (Parser?, StartDoctypeDeclHandler?) -> Void).self),
            let setEntityDeclHandler = sym(
                "XML_SetEntityDeclHandler", (@convention(c) (Parser?, EntityDeclHandler?) -> Void).self),
            let parse = sym(
                "XML_Parse", (@convention(c) (Parser?, UnsafePointer<CChar>?, CInt, CInt) -> CInt).self),
            let stopParser = sym("XML_StopParser", (@convention(c) (Parser?, UInt8) -> CInt).self),
            let getErrorCode = sym("XML_GetErrorCode", (@convention(c) (Parser?) -> CInt).self),
            let errorString = sym("XML_ErrorString", (@convention(c) (CInt) -> UnsafePointer<CChar>?).self),
            let getCurrentLineNumber = sym(
                "XML_GetCurrentLineNumber", (@convention(c) (Parser?) -> UInt).self)
        else {
            return .failure(.unavailable("libexpat.so.1 lacks an expected symbol"))
        }
        return .success(Expat(
            parserCreate: parserCreate, parserFree: parserFree, setUserData: setUserData,
            setElementHandler: setElementHandler, setCharacterDataHandler: setCharacterDataHandler,
            setStartDoctypeDeclHandler: setStartDoctypeDeclHandler, setEntityDeclHandler: setEntityDeclHandler,
            parse: parse, stopParser: stopParser, getErrorCode: getErrorCode, errorString: errorString,
            getCurrentLineNumber: getCurrentLineNumber))
    }
}
