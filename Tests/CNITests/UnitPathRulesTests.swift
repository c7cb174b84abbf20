import Testing
import Platform

/// The one check of configured paths (ipam.dataDir, logFile, agentSocket, kernelpath, sysctl keys): components
/// compared as bytes, so a combining mark after "/" or ".." cannot hide a "..".
@Suite struct UnitPathRulesTests {
    @Test func absoluteWithoutDotDot() {
        for ok in ["/", "/var/lib/cni/eni-multus", "/run/eni-multus/agent.sock", "/a/..b/c..", "/a/.../b"] {
            #expect(PathRules.isAbsoluteWithoutDotDot(ok), "\(ok)")
        }
        for bad in ["", "var/lib", "/a/../b", "/..", "/a/..", "/sys/../\u{301}x", "/a/\u{0}b", "/../\u{301}"] {
            #expect(!PathRules.isAbsoluteWithoutDotDot(bad), "\(bad.debugDescription)")
        }
    }

    @Test func relativeBelow() {
        for ok in ["net/ipv4/conf/eth0/arp_notify", "a", "a/b..c"] { #expect(PathRules.isRelativeBelow(ok), "\(ok)") }
        for bad in ["", "/net/ipv4", "net//ipv4", "net/../x", "..", "net/", "a/\u{0}", "../\u{301}x"] {
            #expect(!PathRules.isRelativeBelow(bad), "\(bad.debugDescription)")
        }
    }
}
