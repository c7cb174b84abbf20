#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CNI
import ENIMultusCore
import IPAM
import JSON
import NodeState

private typealias K = UnitProtocolKit

/// CHECK and ADD failures that happen before anything is created.
@Suite struct UnitProtocolPreKernelTests {
    @Test("CHECK with a malformed prevResult is code 6", arguments: [
        #""x""#, #"{"ips":[{"address":"10.0.0.5"}]}"#, #"{"interfaces":{}}"#, #"{"routes":[{"dst":"0.0.0.0/0","gw":"fd00::1"}]}"#,
    ])
    func checkMalformedPrev(prev: String) throws {
        let e = try #require(K.wireError(K.run("CHECK", K.conf("0.4.0", #""master":"eth1","prevResult":\#(prev)"#))))
        #expect(e.code == 6)
        #expect(e.msg?.hasPrefix("prevResult") == true)
        #expect(e.cniVersion == "0.4.0")
    }

    @Test("CHECK with \"prevResult\": null is code 7, like a missing prevResult")
    func checkNullPrev() throws {
        let e = try #require(K.wireError(K.run("CHECK", K.conf("1.0.0", #""master":"eth1","prevResult":null"#))))
        #expect(e.code == 7)
        #expect(e.msg == "CHECK requires prevResult in the network config")
    }

    @Test("CHECK with a good prevResult and a netns that does not exist is code 4", arguments: ["0.4.0", "1.0.0", "1.1.0"])
    func checkGoneNetns(version: String) throws {
        let prev = #"{"cniVersion":"\#(version)","interfaces":[{"name":"net1","sandbox":"\#(K.goneNetns)"}],"ips":[{"address":"10.0.0.5/24","interface":0}]}"#
        let e = try #require(K.wireError(K.run("CHECK", K.conf(version, #""master":"lo","prevResult":\#(prev)"#))))
        #expect(e.code == 4)
        #expect(e.msg?.contains(K.goneNetns) == true)
    }

    @Test("ADD with a master that does not exist is code 7 and reserves nothing")
    func addNoMaster() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"emtnope0","# + K.ipam(dir)), dataDir: dir)))
        #expect(e.code == 7)
        #expect(e.msg == "master \"emtnope0\" does not exist in the node's network namespace")
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("ADD with a netns that does not exist is code 4 and reserves nothing")
    func addGoneNetns() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let e = try #require(K.wireError(K.run("ADD", K.conf("0.3.1", #""master":"lo","allowPrimary":true,"# + K.ipam(dir)), dataDir: dir)))
        #expect(e.code == 4)
        #expect(e.msg?.hasPrefix("CNI_NETNS \"\(K.goneNetns)\"") == true)
        #expect(e.cniVersion == "0.3.1")
        #expect(K.ipFiles(dir).isEmpty)
    }

    @Test("ADD with a delegated IPAM missing from CNI_PATH fails with a message naming it")
    func addMissingDelegate() throws {
        let e = try #require(K.wireError(K.run("ADD", K.conf("1.0.0", #""master":"lo","ipam":{"type":"emt-nope-ipam"}"#))))
        #expect(e.code == 104)
        #expect(e.msg?.contains("emt-nope-ipam") == true)
        #expect(e.msg?.contains("not found in CNI_PATH") == true)
    }
}
