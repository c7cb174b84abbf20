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

/// The JSON-lines log (`logFile`, `logLevel`).
@Suite struct UnitProtocolLogTests {
    static func run(_ command: String, _ conf: String, dir: String, _ overrides: [String: String?] = [:]) -> PluginOutput {
        let ticker = UnitProtocolTicker()
        return Plugin.run(K.environment(K.vars(command, overrides), stdin: Array(conf.utf8), dataDir: dir,
                                        monotonic: { ticker.next() }))
    }

    @Test("a successful DEL writes one info line with the outcome and duration")
    func successLine() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""master":"eth1","logFile":"\#(log)","# + K.ipam(dir)), dir: dir, ["CNI_NETNS": ""]))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text == #"{"time":1700000000.500,"level":"info","msg":"done","verb":"DEL","network":"net1","containerID":"ctr1","ifname":"net1","outcome":"ok","durationMs":1.234}"# + "\n")
        var st = stat()
        #expect(stat(log, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test("an error writes an error line with the code; lines append")
    func errorLine() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        let conf = K.conf("1.0.0", #""master":"eth1","logFile":"\#(log)""#)
        for _ in 0..<2 { #expect(Self.run("CHECK", conf, dir: dir).exitCode == 1) }
        let line = #"{"time":1700000000.500,"level":"error","msg":"CHECK requires prevResult in the network config","verb":"CHECK","network":"net1","containerID":"ctr1","ifname":"net1","outcome":"error","code":7,"durationMs":1.234}"#
        #expect(try String(contentsOfFile: log, encoding: .utf8) == line + "\n" + line + "\n")
    }

    @Test("logLevel error keeps successes out of the log")
    func levelError() throws {
        let dir = K.tempDir()
        defer { K.remove(dir) }
        let log = "\(dir)/plugin.log"
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""logFile":"\#(log)","logLevel":"error""#), dir: dir, ["CNI_NETNS": ""]))
        #expect(!FileManager.default.fileExists(atPath: log))
    }

    @Test("a log file that cannot be opened does not change the outcome")
    func unwritableLog() {
        K.expectQuietSuccess(Self.run("DEL", K.conf("1.0.0", #""logFile":"/nonexistent/dir/x.log""#), dir: K.untouchedDataDir, ["CNI_NETNS": ""]))
    }
}
