import Testing
import CNI
import ENIMultusCore
import JSON

private typealias K = UnitProtocolKit

/// Every verb × every version: which verb is allowed in which version. Configs are chosen so that an allowed
/// verb either succeeds without root (DEL, STATUS, GC on a temp data directory) or fails deterministically before
/// the kernel is touched (ADD: unusable IPAM section; CHECK: no prevResult).
@Suite struct UnitProtocolMatrixTests {
    static let verbs: [CNICommand] = CNICommand.allCases

    static func allowed(_ verb: CNICommand, _ v: CNIVersion) -> Bool {
        switch verb {
        case .add, .del, .version: true
        case .check: v >= .v0_4_0
        case .status, .gc: v >= .v1_1_0
        }
    }

    @Test("verb × version gating", arguments: verbs, CNIVersion.allCases)
    func gating(verb: CNICommand, version: CNIVersion) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let conf: String
        switch verb {
        case .add:
            conf = K.conf(version.rawValue, #""master":"lo","ipam":{"type":"eni-multus","dataDir":"\#(dir)"}"#)
        default:
            conf = K.conf(version.rawValue, #""master":"lo","cni.dev/valid-attachments":[],"# + K.ipam(dir))
        }
        let netns = verb == .del ? "" : K.goneNetns
        let out = K.run(verb.rawValue, conf, ["CNI_NETNS": netns], dataDir: dir)

        guard Self.allowed(verb, version) else {
            let e = try #require(K.wireError(out))
            #expect(e.code == 1)
            #expect(e.msg?.hasPrefix("\(verb.rawValue) needs cniVersion") == true)
            #expect(e.cniVersion == version.rawValue)
            return
        }
        switch verb {
        case .version:
            K.expectOutput(out, stdout: K.versionOutput, stderr: "")
        case .add:
            let e = try #require(K.wireError(out))
            #expect(e.code == 7)
            #expect(e.msg?.hasPrefix("ipam needs \"ranges\"") == true, "\(e.msg ?? "")")
            #expect(e.cniVersion == version.rawValue)
        case .check:
            let e = try #require(K.wireError(out))
            #expect(e.code == 7)
            #expect(e.msg == "CHECK requires prevResult in the network config")
            #expect(e.cniVersion == version.rawValue)
        case .del, .status, .gc:
            K.expectQuietSuccess(out)
        }
    }

    @Test("without cniVersion every verb but VERSION is refused with code 1", arguments: verbs)
    func missingVersionRow(verb: CNICommand) throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let out = K.run(verb.rawValue, K.conf(nil, #""master":"lo","# + K.ipam(dir)), dataDir: dir)
        if verb == .version {
            #expect(out.stdout == K.versionOutput)
        } else {
            let e = try #require(K.wireError(out))
            #expect(e.code == 1)
            #expect(e.cniVersion == "1.1.0")
        }
    }
}
