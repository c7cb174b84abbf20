#if canImport(Glibc)
import Glibc
#endif
import ENIMultusCore

// VERSION (podman asks before every ADD and DEL): the constant answer, before any dictionary or JSON is built, so
// the exec costs little more than the process start-up. Plugin.run answers the same bytes (tested).
if let c = getenv("CNI_COMMAND"), strcmp(c, "VERSION") == 0 {
    ProcessInfoLite.discardStdin()
    Plugin.versionText.withUTF8Buffer { ProcessInfoLite.write(1, $0) }
    exit(0)
}

// Binds the live process environment to the in-process core; nothing else happens here.
func readStdin() -> [UInt8] {
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(0, &buf, buf.count)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) } else if n == 0 || errno != EINTR { break }
        if bytes.count > 64 << 20 { break }
    }
    return bytes
}
let output = Plugin.run(PluginEnvironment(
    variables: ProcessInfoLite.environment(),
    stdin: ProcessInfoLite.needsStdin() ? readStdin() : [],
    monotonicNanos: ProcessInfoLite.monotonicNanos,
    wallClock: ProcessInfoLite.wallClock,
    random: ProcessInfoLite.random))
ProcessInfoLite.write(1, output.stdout)
ProcessInfoLite.write(2, output.stderr)
exit(output.exitCode)
