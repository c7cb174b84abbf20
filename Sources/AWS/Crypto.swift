import CAWSShims
#if canImport(Glibc)
import Glibc
#endif

/// SHA-256 and HMAC-SHA256 through libcrypto (OpenSSL 3), loaded with `dlopen("libcrypto.so.3")` on first use so
/// that verbs which never sign a request never map it.
///
/// Every function throws `TransportError.unavailable` (with the dlerror text) when libcrypto cannot be loaded:
/// the AWS layer then has no way to talk to AWS at all, the same situation as a missing libcurl, and the retry
/// logic must not retry it.
public enum Crypto {
    /// The shared object opened on first use.
    public static let libraryName = "libcrypto.so.3"

    /// Loads libcrypto now (idempotent); throws what every other function would throw.
    public static func load() throws(TransportError) {
        _ = try CryptoLibrary.shared.get()
    }

    /// SHA-256 of `bytes` (`EVP_Digest` with `EVP_sha256`): 32 bytes.
    public static func sha256(_ bytes: [UInt8]) throws(TransportError) -> [UInt8] {
        let lib = try CryptoLibrary.shared.get()
        var out = [UInt8](repeating: 0, count: 32)
        let ok = bytes.withUnsafeBytes { data in
            out.withUnsafeMutableBufferPointer { o in
                cawss_sha256(lib.api, data.baseAddress, data.count, o.baseAddress)
            }
        }
        guard ok == 1 else { throw .unavailable("libcrypto: EVP_Digest(SHA-256) failed") }
        return out
    }

    /// SHA-256 of the UTF-8 bytes of `string`.
    public static func sha256(_ string: String) throws(TransportError) -> [UInt8] {
        try sha256(Array(string.utf8))
    }

    /// HMAC-SHA256 (`HMAC` one-shot with `EVP_sha256`): 32 bytes.
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) throws(TransportError) -> [UInt8] {
        let lib = try CryptoLibrary.shared.get()
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    cawss_hmac_sha256(lib.api, k.baseAddress, k.count, d.baseAddress, d.count, o.baseAddress)
                }
            }
        }
        guard ok == 1 else { throw .unavailable("libcrypto: HMAC(SHA-256) failed") }
        return out
    }

    /// HMAC-SHA256 of the UTF-8 bytes of `data`.
    public static func hmacSHA256(key: [UInt8], data: String) throws(TransportError) -> [UInt8] {
        try hmacSHA256(key: key, data: Array(data.utf8))
    }

    /// Lower-case hexadecimal, two digits per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The loaded libcrypto entry points. Written once while loading, read-only afterwards, never freed (the library
/// stays mapped for the life of the process): safe to share.
final class CryptoLibrary: @unchecked Sendable {
    let api: UnsafeMutablePointer<cawss_crypto>

    private init(api: UnsafeMutablePointer<cawss_crypto>) { self.api = api }

    /// Loaded once per process (Swift globals and statics initialise exactly once, thread-safely).
    static let shared = load(Crypto.libraryName)

    /// Loads `path`; a failure carries the dlopen/dlsym error text.
    static func load(_ path: String) -> Result<CryptoLibrary, TransportError> {
        let api = UnsafeMutablePointer<cawss_crypto>.allocate(capacity: 1)
        var err = [CChar](repeating: 0, count: 512)
        let rc = cawss_crypto_load(api, path, &err, err.count)
        guard rc == 0 else {
            api.deallocate()
            let text = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return .failure(.unavailable("\(path): \(text)"))
        }
        return .success(CryptoLibrary(api: api))
    }
}
