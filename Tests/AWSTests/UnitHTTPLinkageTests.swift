import Foundation
import Testing
@testable import AWS

/// The plugin binary must not link libcurl or libcrypto: they are dlopen'ed on first AWS use.
@Suite struct UnitHTTPLinkageTests {
    /// The eni-multus built with this test bundle (beside it, whatever the scratch path: scripts/asan.sh builds in
    /// .build-asan), else .build/debug/eni-multus.
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let beside = (exe as NSString).deletingLastPathComponent + "/eni-multus"
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return AWSTestEnv.packageRoot + "/.build/debug/eni-multus"
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: UnitHTTPLinkageTests.binary),
                   "needs the eni-multus binary beside the test bundle or in .build/debug (swift build)"))
    func pluginBinaryHasNoAWSLibrariesNeeded() throws {
        let r = try AWSTestEnv.run(["/usr/bin/env", "readelf", "-d", Self.binary])
        #expect(r.status == 0, "\(r.stderr)")
        let needed = r.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(!needed.isEmpty)
        for line in needed {
            #expect(!line.contains("libcurl"), "\(line)")
            #expect(!line.contains("libcrypto"), "\(line)")
            #expect(!line.contains("libssl"), "\(line)")
        }
    }

    @Test func libraryLoadFailureIsUnavailableWithDlerror() {
        guard case .failure(.unavailable(let curl)) = CurlLibrary.load("libcurl-does-not-exist.so.9") else {
            Issue.record("loaded a library that does not exist")
            return
        }
        #expect(curl.contains("libcurl-does-not-exist.so.9: cannot open shared object file"), "\(curl)")
        guard case .failure(.unavailable(let crypto)) = CryptoLibrary.load("libc.so.6") else {
            Issue.record("libc.so.6 passed for libcrypto")
            return
        }
        #expect(crypto.contains("dlsym EVP_sha256"), "\(crypto)")
    }
}
