#if canImport(Glibc)
import Glibc
#endif
import ENIMultusCore
import Platform

// VERSION (podman asks before every ADD and DEL): the constant answer, before any dictionary or JSON is built, so
// the exec costs little more than the process start-up. Plugin.run answers the same bytes (tested).
if let c = getenv("CNI_COMMAND"), strcmp(c, "VERSION") == 0 {
    LiveProcess.discardStdin()
    Plugin.versionText.withUTF8Buffer { LiveProcess.write(1, $0) }
    exit(0)
}

// Binds the live process environment to the in-process core; nothing else happens here.
let output = Plugin.run(PluginEnvironment(
    variables: LiveProcess.environment(),
    stdin: LiveProcess.needsStdin() ? LiveProcess.readStdin() : [],
    monotonicNanos: LiveProcess.monotonicNanos,
    wallClock: LiveProcess.wallClock,
    random: LiveProcess.random))
LiveProcess.write(1, output.stdout)
LiveProcess.write(2, output.stderr)
exit(output.exitCode)
