import CAWSShims

/// The loaded libcurl entry points: `dlopen("libcurl.so.4", RTLD_NOW|RTLD_LOCAL)` plus `curl_global_init`, once
/// per process on first use. Written once while loading, read-only afterwards and never unloaded: safe to share.
final class CurlLibrary: @unchecked Sendable {
    static let libraryName = "libcurl.so.4"

    let api: UnsafeMutablePointer<cawss_curl>

    private init(api: UnsafeMutablePointer<cawss_curl>) { self.api = api }

    /// Loaded once per process (a Swift static initialises exactly once, thread-safely, which also serialises
    /// `curl_global_init`).
    static let shared = load(libraryName)

    /// Loads `path`; a failure carries the dlopen/dlsym error text.
    static func load(_ path: String) -> Result<CurlLibrary, TransportError> {
        let api = UnsafeMutablePointer<cawss_curl>.allocate(capacity: 1)
        var err = [CChar](repeating: 0, count: 512)
        let rc = cawss_curl_load(api, path, &err, err.count)
        guard rc == 0 else {
            api.deallocate()
            let text = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return .failure(.unavailable("\(path): \(text)"))
        }
        return .success(CurlLibrary(api: api))
    }

    /// `curl_easy_strerror(code)`.
    func describe(_ code: CURLcode) -> String {
        guard let s = api.pointee.easy_strerror(code) else { return "curl error \(code.rawValue)" }
        return String(cString: s)
    }
}
