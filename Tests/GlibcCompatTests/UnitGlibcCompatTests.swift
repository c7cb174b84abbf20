import CGlibcCompat
import Glibc
import Testing

/// The definitions that replace glibc's arc4random@2.36 and hypotf@2.35 in the plugin (the static executable, and the
/// dynamic build that must load on glibc 2.34).
@Suite struct UnitGlibcCompatTests {
    @Test func hypotfMatchesTheDoublePrecisionResult() {
        let cases: [(Float, Float)] = [
            (3, 4), (0, 0), (-3, 4), (1e-45, 1e-45), (3.4e38, 3.4e38), (1e-30, 1), (0.1, 0.2), (-0.0, 5),
            (Float.leastNormalMagnitude, Float.leastNormalMagnitude), (123456.7, 0.000123),
        ]
        for (x, y) in cases {
            let expected = Float(hypot(Double(x), Double(y)))
            #expect(eni_multus_hypotf(x, y) == expected, "hypotf(\(x), \(y))")
        }
        #expect(eni_multus_hypotf(3, 4) == 5)
    }

    @Test func hypotfFollowsC99ForInfinityAndNaN() {
        #expect(eni_multus_hypotf(.infinity, .nan) == .infinity)
        #expect(eni_multus_hypotf(.nan, -.infinity) == .infinity)
        #expect(eni_multus_hypotf(.nan, 1).isNaN)
        #expect(eni_multus_hypotf(1, .nan).isNaN)
    }

    @Test func arc4randomCoversTheWholeRange() {
        // 4096 draws: every bit must be seen both set and clear, and no value may repeat more than a few times
        // (a constant or a stuck byte would fail both).
        var seenSet: UInt32 = 0
        var seenClear: UInt32 = 0
        var counts: [UInt32: Int] = [:]
        for _ in 0..<4096 {
            let v = eni_multus_arc4random()
            seenSet |= v
            seenClear |= ~v
            counts[v, default: 0] += 1
        }
        #expect(seenSet == UInt32.max)
        #expect(seenClear == UInt32.max)
        #expect((counts.values.max() ?? 0) <= 2)
    }
}
