// DelegatedIPAM (another IPAM plugin found in CNI_PATH and exec'd) and Subprocess, with small /bin/sh plugins.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Testing
import Platform
@testable import IPAM
import CNI
import JSON
import NetTypes
import TestSupport

/// Writes an executable script `name` into `dir`.
func writeScript(_ dir: String, _ name: String, _ body: String, mode: mode_t = 0o755) -> String {
    let p = dir + "/" + name
    writeFile(p, "#!/bin/sh\n" + body, mode: mode)
    return p
}

let fixedResult = #"{"cniVersion":"1.0.0","ips":[{"address":"10.200.0.5/24","gateway":"10.200.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.200.0.53"]}}"#

/// A fake IPAM plugin: records its environment, argv and stdin in $OUT_DIR, then acts per CNI_COMMAND and FAKE_MODE.
let fakePlugin = """
    echo "$CNI_COMMAND" > "$OUT_DIR/command"
    echo "$CNI_CONTAINERID" > "$OUT_DIR/containerid"
    echo "$CNI_IFNAME" > "$OUT_DIR/ifname"
    echo "$#" > "$OUT_DIR/argc"
    /bin/cat > "$OUT_DIR/stdin"
    case "$FAKE_MODE" in
      error) echo '{"cniVersion":"1.0.0","code":11,"msg":"try again later","details":"fake busy"}'; exit 1 ;;
      garbage) echo 'this is not json'; exit 0 ;;
      garbagefail) echo 'boom on stderr' >&2; echo 'not json'; exit 3 ;;
      notresult) echo '{"cniVersion":"1.0.0","ips":"nope"}'; exit 0 ;;
      echoenv) printf '{"cniVersion":"1.0.0","ips":[{"address":"10.201.0.9/24"}],"dns":{"domain":"%s-%s"}}' "$CNI_COMMAND" "$CNI_CONTAINERID"; exit 0 ;;
    esac
    case "$CNI_COMMAND" in
      ADD) echo '\(fixedResult)' ;;
      DEL) ;;
      *) exit 0 ;;
    esac
    """

final class DeadlineBox<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

@Suite(.serialized) struct UnitDelegatedIPAMTests {
    init() {
        // Subprocess saves and restores the SIGPIPE disposition around each run; with several runs in one
        // (multi-threaded) test process a restore could re-enable SIGPIPE while another run is writing.
        signal(SIGPIPE, SIG_IGN)
    }

    func env(_ out: String, mode: String? = nil) -> [String: String] {
        var e = ["OUT_DIR": out, "CNI_CONTAINERID": "ctr-42", "CNI_IFNAME": "net1", "CNI_NETNS": "/proc/self/ns/net",
                 "CNI_PATH": "/nowhere", "PATH": "/usr/bin:/bin"]
        if let mode { e["FAKE_MODE"] = mode }
        return e
    }

    // MARK: lookup

    @Test func findsThePluginInTheSearchPath() throws {
        try withTempDir("deleg") { (d: String) throws in
            try FileIO.makeDirectories(d + "/a")
            try FileIO.makeDirectories(d + "/b")
            let p = writeScript(d + "/b", "fake-ipam", fakePlugin)
            let g = try DelegatedIPAM(type: "fake-ipam", searchPath: ["", d + "/a", d + "/b/"])
            #expect(g.executable == p)
            #expect(g.type == "fake-ipam")
        }
    }

    @Test func firstMatchInSearchPathWinsAndNonExecutablesAreSkipped() throws {
        try withTempDir("deleg") { (d: String) throws in
            for s in ["a", "b", "c"] { try FileIO.makeDirectories(d + "/" + s) }
            _ = writeScript(d + "/a", "p", "exit 0\n", mode: 0o644)          // not executable
            try FileIO.makeDirectories(d + "/b/p")                              // a directory
            let good = writeScript(d + "/c", "p", "exit 0\n")
            #expect(try DelegatedIPAM(type: "p", searchPath: [d + "/a", d + "/b", d + "/c"]).executable == good)
        }
    }

    @Test func notFoundNamesCNIPath() throws {
        try withTempDir("deleg") { (d: String) throws in
            let e = ipamError { _ = try DelegatedIPAM(type: "no-such-ipam", searchPath: [d, "/nonexistent"]) }
            guard case .delegateUnusable(let plugin, let reason)? = e else {
                Issue.record("expected delegateUnusable, got \(String(describing: e))"); return
            }
            #expect(plugin == "no-such-ipam")
            #expect(reason.contains("CNI_PATH"))
            #expect(reason.contains(d + ":/nonexistent"))
        }
    }

    @Test(arguments: ["../host-local", "/usr/lib/cni/host-local", "a/b", "", ".", "..", "../\u{301}host-local"])
    func typeMustBeAPluginName(_ type: String) {
        let e = ipamError { _ = try DelegatedIPAM(type: type, searchPath: ["/usr/lib/cni"]) }
        guard case .delegateUnusable(_, let reason)? = e else {
            Issue.record("type \"\(type)\" accepted: \(String(describing: e))"); return
        }
        #expect(reason.contains("ipam.type"))
    }

    // MARK: running

    @Test func addReturnsTheDecodedResult() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            let r = try g.add(env: env(d), stdin: Array("{}".utf8))
            #expect(r.ips.count == 1)
            #expect(r.ips[0].address == IPPrefix("10.200.0.5/24")!)
            #expect(r.ips[0].gateway == ip("10.200.0.1"))
            #expect(r.routes.map(\.dst) == [IPPrefix("0.0.0.0/0")!])
            #expect(r.dns.nameservers == ["10.200.0.53"])
        }
    }

    @Test func environmentIsPassedWithCNICommandSet() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            var e = env(d)
            e["CNI_COMMAND"] = "VERSION"   // overridden by run(.add)
            let r = try g.add(env: e, stdin: Array("{}".utf8))
            #expect(r.ips.count == 1)
            #expect(fileText(d + "/command") == "ADD\n")
            #expect(fileText(d + "/containerid") == "ctr-42\n")
            #expect(fileText(d + "/ifname") == "net1\n")
            let r2 = try g.add(env: env(d, mode: "echoenv"), stdin: [])
            #expect(r2.dns.domain == "ADD-ctr-42")
            _ = try g.run(.del, env: env(d), stdin: Array("{}".utf8))
            #expect(fileText(d + "/command") == "DEL\n")
            _ = try g.run(.check, env: env(d), stdin: Array("{}".utf8))
            #expect(fileText(d + "/command") == "CHECK\n")
        }
    }

    @Test func environmentIsNotInheritedFromTheCaller() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "envdump", "/usr/bin/env | /usr/bin/sort > \"$OUT_DIR/env\"\n")
            setenv("EMT_SHOULD_NOT_LEAK", "1", 1)
            defer { unsetenv("EMT_SHOULD_NOT_LEAK") }
            _ = try DelegatedIPAM(type: "envdump", searchPath: [d]).run(.del, env: ["OUT_DIR": d, "X": "y"], stdin: [])
            let lines = Set((fileText(d + "/env") ?? "").split(separator: "\n").map(String.init))
            #expect(lines.contains("X=y"))
            #expect(lines.contains("CNI_COMMAND=DEL"))
            #expect(!lines.contains("EMT_SHOULD_NOT_LEAK=1"))
        }
    }

    @Test func stdinIsPassedVerbatim() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            let conf = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"type\":\"fake\"}, \"x\":\"\\u00e9 é\"}\n\n  "
            _ = try g.add(env: env(d), stdin: Array(conf.utf8))
            #expect(FileManager.default.contents(atPath: d + "/stdin").map { [UInt8]($0) } == Array(conf.utf8))
            var bin = [UInt8](0...255)
            bin += bin
            _ = try g.run(.del, env: env(d), stdin: bin)
            #expect(FileManager.default.contents(atPath: d + "/stdin").map { [UInt8]($0) } == bin)
        }
    }

    @Test func emptyStdinGivesTheChildEOF() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            _ = try DelegatedIPAM(type: "fake", searchPath: [d]).run(.del, env: env(d), stdin: [])
            #expect(fileText(d + "/stdin") == "")
        }
    }

    @Test func cniErrorIsPassedThrough() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            let e = ipamError { _ = try g.add(env: env(d, mode: "error"), stdin: []) }
            guard case .delegateFailed(let plugin, let code, let msg, let details)? = e else {
                Issue.record("expected delegateFailed, got \(String(describing: e))"); return
            }
            #expect(plugin == "fake")
            #expect(code == 11)
            #expect(msg == "try again later")
            #expect(details == "fake busy")
            #expect(e!.description.contains("try again later"))
        }
    }

    @Test(arguments: ["garbage", "notresult"])
    func garbageOutputIsDelegateUnusable(_ mode: String) throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            let e = ipamError { _ = try g.add(env: env(d, mode: mode), stdin: []) }
            guard case .delegateUnusable(let plugin, let reason)? = e else {
                Issue.record("expected delegateUnusable, got \(String(describing: e))"); return
            }
            #expect(plugin == "fake")
            #expect(reason.contains("no usable result"))
        }
    }

    @Test func nonZeroExitWithoutCNIErrorReportsStatusAndStderr() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "fake", fakePlugin)
            let g = try DelegatedIPAM(type: "fake", searchPath: [d])
            let e = ipamError { _ = try g.add(env: env(d, mode: "garbagefail"), stdin: []) }
            guard case .delegateUnusable(_, let reason)? = e else {
                Issue.record("expected delegateUnusable, got \(String(describing: e))"); return
            }
            #expect(reason.contains("status 3"))
            #expect(reason.contains("boom on stderr"))
        }
    }

    @Test func pluginKilledBySignal() throws {
        try withTempDir("deleg") { (d: String) throws in
            _ = writeScript(d, "selfkill", "kill -9 $$\n")
            let e = ipamError { _ = try DelegatedIPAM(type: "selfkill", searchPath: [d]).run(.add, env: [:], stdin: []) }
            guard case .delegateUnusable(_, let reason)? = e else {
                Issue.record("expected delegateUnusable, got \(String(describing: e))"); return
            }
            #expect(reason.contains("status 137"))
        }
    }

    @Test func unrunnableExecutableIsDelegateUnusable() throws {
        try withTempDir("deleg") { (d: String) throws in
            writeFile(d + "/badexec", "\u{7f}ELF not really", mode: 0o755)
            let g = try DelegatedIPAM(type: "badexec", searchPath: [d])
            let e = ipamError { _ = try g.run(.add, env: [:], stdin: []) }
            guard case .delegateUnusable(let p, _)? = e else {
                Issue.record("expected delegateUnusable, got \(String(describing: e))"); return
            }
            #expect(p == "badexec")
        }
    }

    // MARK: Subprocess

    /// Runs `body` on its own thread; if it has not finished after `seconds`, SIGKILLs the child whose pid the
    /// script wrote to `pidFile` (a process this test started) so the blocked run can return, and reports nil.
    func withDeadline<T: Sendable>(_ seconds: Double, pidFile: String, _ body: @escaping @Sendable () -> T) -> T? {
        let box = DeadlineBox<T>()
        Thread.detachNewThread {
            box.value = body()
            box.done.signal()
        }
        if box.done.wait(timeout: .now() + seconds) == .success { return box.value }
        if let t = fileText(pidFile), let pid = pid_t(t.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
            kill(pid, SIGKILL)
        }
        _ = box.done.wait(timeout: .now() + 30)
        return nil
    }

    @Test func largeStdoutDoesNotDeadlock() throws {
        try withTempDir("deleg") { (d: String) throws in
            let script = writeScript(d, "big", "echo $$ > \"$OUT_DIR/pid\"\nexec /usr/bin/head -c 1048576 /dev/urandom\n")
            let r = withDeadline(60, pidFile: d + "/pid") {
                try? Subprocess.run([script], environment: ["OUT_DIR": d], stdin: [])
            }
            guard let out = r ?? nil else { Issue.record("Subprocess did not return (deadlock)"); return }
            #expect(out.status == 0)
            #expect(out.stdout.count == 1 << 20)
        }
    }

    @Test func largeStdinIsDeliveredWhole() throws {
        try withTempDir("deleg") { (d: String) throws in
            let script = writeScript(d, "sink", "echo $$ > \"$OUT_DIR/pid\"\n/bin/cat > \"$OUT_DIR/in\"\necho done\n")
            let input = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
            let r = withDeadline(60, pidFile: d + "/pid") {
                try? Subprocess.run([script], environment: ["OUT_DIR": d], stdin: input)
            }
            guard let out = r ?? nil else { Issue.record("Subprocess did not return (deadlock)"); return }
            #expect(out.status == 0)
            #expect(out.stdout == Array("done\n".utf8))
            #expect(FileManager.default.contents(atPath: d + "/in").map { [UInt8]($0) } == input)
        }
    }

    /// BUG (see report): the child echoes stdin to stdout. Subprocess's stdin pipe is blocking, so its
    /// write(1 MB) blocks once the pipe is full while the child blocks writing its stdout, which nobody reads.
    @Test func largeStdinAndLargeStdoutTogetherDoNotDeadlock() throws {
        try withTempDir("deleg") { (d: String) throws in
            let script = writeScript(d, "echo", "echo $$ > \"$OUT_DIR/pid\"\nexec /bin/cat\n")
            let input = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let r = withDeadline(15, pidFile: d + "/pid") {
                try? Subprocess.run([script], environment: ["OUT_DIR": d], stdin: input)
            }
            guard let out = r ?? nil else {
                Issue.record("Subprocess deadlocked with 1 MB in and 1 MB out (child killed after 15 s)"); return
            }
            #expect(out.status == 0)
            #expect(out.stdout == input)
        }
    }

    @Test func childThatIgnoresStdinDoesNotHangOrKillUs() throws {
        try withTempDir("deleg") { (d: String) throws in
            let script = writeScript(d, "deaf", "echo $$ > \"$OUT_DIR/pid\"\necho ignored\nexit 4\n")
            let input = [UInt8](repeating: 65, count: 1 << 20)
            let r = withDeadline(60, pidFile: d + "/pid") {
                try? Subprocess.run([script], environment: ["OUT_DIR": d], stdin: input)
            }
            guard let out = r ?? nil else { Issue.record("Subprocess did not return"); return }
            #expect(out.status == 4)
            #expect(out.stdout == Array("ignored\n".utf8))
        }
    }

    @Test func stderrIsCapturedSeparately() throws {
        try withTempDir("deleg") { (d: String) throws in
            let script = writeScript(d, "both", "echo out; echo err >&2; exit 2\n")
            let out = try Subprocess.run([script], environment: [:], stdin: [])
            #expect(out.status == 2)
            #expect(out.stdout == Array("out\n".utf8))
            #expect(out.stderr == Array("err\n".utf8))
        }
    }

    @Test func spawnFailureIsAnErrno() {
        do {
            _ = try Subprocess.run(["/nonexistent/emt-plugin"], environment: [:], stdin: [])
            Issue.record("spawning a missing file succeeded")
        } catch {
            #expect(error.code == ENOENT)
        }
    }

    // MARK: the Debian reference host-local as a delegate

    static let hostLocal = Capabilities.referencePluginDir + "/host-local"

    @Test(.enabled(if: access(hostLocal, X_OK) == 0, "needs the reference host-local plugin"))
    func referenceHostLocalAsDelegate() throws {
        try withTempDir("deleg") { (d: String) throws in
            let g = try DelegatedIPAM(type: "host-local", searchPath: [Capabilities.referencePluginDir])
            let conf = """
                {"cniVersion":"1.0.0","name":"emt-hl","type":"eni-multus",
                 "ipam":{"type":"host-local","dataDir":"\(d)","ranges":[[{"subnet":"10.210.0.0/24"}],[{"subnet":"fd00:210::/64"}]],
                         "routes":[{"dst":"0.0.0.0/0"}]}}
                """
            let e = ["CNI_CONTAINERID": "ctr-hl", "CNI_IFNAME": "net1", "CNI_NETNS": "/proc/self/ns/net",
                     "CNI_PATH": Capabilities.referencePluginDir, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
            let r = try g.add(env: e, stdin: Array(conf.utf8))
            #expect(r.ips.map(\.address) == [IPPrefix("10.210.0.2/24")!, IPPrefix("fd00:210::2/64")!])
            #expect(r.ips.map(\.gateway) == [ip("10.210.0.1"), ip("fd00:210::1")])
            #expect(r.routes.map(\.dst) == [IPPrefix("0.0.0.0/0")!])
            #expect(FileIO.exists(d + "/emt-hl/10.210.0.2"))
            // A second ADD for the same container and ifname: host-local's own error, passed through.
            guard case .delegateFailed(_, _, let msg, _)? = ipamError({ _ = try g.add(env: e, stdin: Array(conf.utf8)) }) else {
                Issue.record("duplicate ADD was not refused by host-local"); return
            }
            #expect(!msg.isEmpty)
            let out = try g.run(.del, env: e, stdin: Array(conf.utf8))
            #expect(out.isEmpty || (try? JSON.parse(out)) != nil)
            #expect(!FileIO.exists(d + "/emt-hl/10.210.0.2"))
            // DEL again is fine.
            _ = try g.run(.del, env: e, stdin: Array(conf.utf8))
        }
    }
}
