// The on-disk store: layout, permissions, contents, states a SIGKILL can leave, garbage collection, and the
// cost of ADD not depending on how many addresses are held.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Platform
@testable import IPAM
import CNI
import JSON
import NetTypes
import NodeState

@Suite struct UnitIPAMStoreTests {
    // MARK: layout

    @Test func directoriesAre0700AndFiles0600() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.70.0.0/24"}],[{"subnet":"fd00:70::/64"}]]"#)
            let old = umask(0)   // the modes must not depend on a permissive umask
            defer { umask(old) }
            _ = try alloc(a, key("c1"))
            for dir in [a.root, a.root + "/attachments", a.root + "/ips"] {
                let m = fileMode(dir)
                #expect(m.map { $0 & S_IFMT } == S_IFDIR, "\(dir)")
                #expect(m.map { $0 & 0o7777 } == 0o700, "\(dir) mode \(String(m ?? 0, radix: 8))")
            }
            for f in [a.root + "/lock", a.root + "/attachments/c1:eth0", a.root + "/ips/10.70.0.2",
                      a.root + "/ips/fd00:70::2", a.root + "/last_reserved_ip.0", a.root + "/last_reserved_ip.1"] {
                let m = fileMode(f)
                #expect(m.map { $0 & S_IFMT } == S_IFREG, "\(f)")
                #expect(m.map { $0 & 0o7777 } == 0o600, "\(f) mode \(String(m ?? 0, radix: 8))")
            }
        }
    }

    @Test func missingDataDirComponentsAreCreated0700() throws {
        try withTempDir { (d: String) throws in
            let a = RangeAllocator(config: rangesConfig(d + "/deep/er", #"[[{"subnet":"10.71.0.0/24"}]]"#), network: "n")
            _ = try alloc(a, key("c1"))
            #expect(fileMode(d + "/deep").map { $0 & 0o7777 } == 0o700)
            #expect(fileMode(d + "/deep/er").map { $0 & 0o7777 } == 0o700)
            #expect(a.root == d + "/deep/er/n")
        }
    }

    @Test func recordAddressFilesAndCursorContents() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.72.0.0/24"}],[{"subnet":"fd00:72::/64"}]]"#)
            _ = try alloc(a, key("0123abcd", "net1"))
            #expect(listDir(a.root) == ["attachments", "ips", "last_reserved_ip.0", "last_reserved_ip.1", "lock"])
            #expect(listDir(a.root + "/attachments") == ["0123abcd:net1"])
            #expect(fileText(a.root + "/attachments/0123abcd:net1")
                    == "eni-multus-ipam 1\ncontainer=0123abcd\nifname=net1\nip=10.72.0.2\nip=fd00:72::2\n")
            #expect(listDir(a.root + "/ips") == ["10.72.0.2", "fd00:72::2"])
            #expect(fileText(a.root + "/ips/10.72.0.2") == "0123abcd\nnet1\n")
            #expect(fileText(a.root + "/ips/fd00:72::2") == "0123abcd\nnet1\n")
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.72.0.2")
            #expect(fileText(a.root + "/last_reserved_ip.1") == "fd00:72::2")
            // Release leaves the cursor (round-robin continues) and removes the rest.
            try a.release(key("0123abcd", "net1"))
            #expect(listDir(a.root + "/attachments") == [])
            #expect(listDir(a.root + "/ips") == [])
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.72.0.2")
        }
    }

    @Test func recordRoundTripAndKeyFileNames() {
        let k = key("abc_1.2-3", "eth0.100")
        #expect(k.fileName == "abc_1.2-3:eth0.100")
        #expect(AttachmentKey(fileName: k.fileName) == k)
        #expect(AttachmentKey(fileName: "nocolon") == nil)
        #expect(AttachmentKey(fileName: ":eth0") == nil)
        #expect(AttachmentKey(fileName: "c1:") == nil)
        let ips = [ip("10.0.0.1"), ip("fd00::1")]
        #expect(AttachmentRecord.decode(AttachmentRecord.encode(k, ips)) == ips)
        #expect(AttachmentRecord.decode(Array("eni-multus-ipam 1\nip=10.1.1.1\nfoo=bar\n".utf8)) == [ip("10.1.1.1")])
        // Torn records (what a power cut can leave without the fsync policy) hold nothing.
        let full = AttachmentRecord.encode(k, ips)
        #expect(AttachmentRecord.decode([]) == nil)
        #expect(AttachmentRecord.decode(Array(full.dropLast())) == nil)           // no final newline
        #expect(AttachmentRecord.decode(Array(full.dropLast(4))) == nil)          // an address cut short
        #expect(AttachmentRecord.decode(Array("ip=10.1.1.1\n".utf8)) == nil)     // no header
        #expect(AttachmentRecord.decode(Array("eni-multus-ipam 1\nip=10.1.1\n".utf8)) == nil)
    }

    // MARK: crash simulation

    /// A record written but no address file yet (killed between the two steps).
    @Test func crashAfterRecordBeforeAddressFiles() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.73.0.0/29", start: "10.73.0.2", end: "10.73.0.3")
            _ = try alloc(a, key("warm"))     // creates the store, .2, cursor .2
            try a.release(key("warm"))
            try FileIO.writeAtomically(a.recordPath(key("dead")), AttachmentRecord.encode(key("dead"), [ip("10.73.0.3")]), .durable)
            // The address is not reserved: a concurrent ADD may take it; the dead record must not free it later.
            #expect(try alloc(a, key("live")) == [ip("10.73.0.3")])
            try a.release(key("dead"))
            #expect(fileText(a.root + "/ips/10.73.0.3") == "live\neth0\n")
            #expect(try a.addresses(of: key("dead")) == nil)
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func crashAfterRecordBeforeAddressFilesRepairedByGC() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.74.0.0/24")
            _ = try alloc(a, key("keep"))
            try FileIO.writeAtomically(a.recordPath(key("dead")), AttachmentRecord.encode(key("dead"), [ip("10.74.0.3")]), .durable)
            #expect(a.collectGarbage(valid: [key("keep")]).isEmpty)
            #expect(listDir(a.root + "/attachments") == ["keep:eth0"])
            #expect(storeProblems(a).problems == [])
        }
    }

    /// Record plus some of its address files (killed half-way through a dual-stack ADD).
    @Test func crashWithPartialAddressFilesReleasedByDEL() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.75.0.0/30"}],[{"subnet":"fd00:75::/126"}]]"#)
            try FileIO.makeDirectories(a.root + "/attachments")
            try FileIO.makeDirectories(a.root + "/ips")
            let k = key("dead")
            try FileIO.writeAtomically(a.recordPath(k), AttachmentRecord.encode(k, [ip("10.75.0.2"), ip("fd00:75::2")]), .durable)
            #expect(try FileIO.createExclusive(a.ipPath(ip("10.75.0.2")), k.ownerBytes, .durable))
            // .2 is the only v4 address: taken.
            guard case .exhausted(0, _)? = ipamError({ _ = try alloc(a, key("other")) }) else {
                Issue.record("half-written reservation must still hold its address"); return
            }
            try a.release(k)
            #expect(listDir(a.root + "/attachments") == [])
            #expect(listDir(a.root + "/ips") == [])
            #expect(try alloc(a, key("other")) == [ip("10.75.0.2"), ip("fd00:75::2")])
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func crashWithPartialAddressFilesCollectedByGC() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.76.0.0/30"}],[{"subnet":"fd00:76::/126"}]]"#)
            _ = try alloc(a, key("warm")); try a.release(key("warm"))
            let k = key("dead")
            try FileIO.writeAtomically(a.recordPath(k), AttachmentRecord.encode(k, [ip("10.76.0.2"), ip("fd00:76::3")]), .durable)
            #expect(try FileIO.createExclusive(a.ipPath(ip("10.76.0.2")), k.ownerBytes, .durable))
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(listDir(a.root + "/attachments") == [])
            #expect(listDir(a.root + "/ips") == [])
            #expect(try alloc(a, key("new")).first == ip("10.76.0.2"))
        }
    }

    /// What a power cut can leave that a killed process cannot (docs/state-format.md, "Durability"): an empty or
    /// torn record, an empty address file (created, content not yet on disk), an empty cooldown mark. None of them
    /// blocks a verb: ADD writes over a torn record of its own key, DEL removes it, GC removes all of them.
    @Test func powerCutArtefactsNeverBlockAVerb() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.78.0.0/29", start: "10.78.0.2", end: "10.78.0.5")
            _ = try alloc(a, key("keep"))                                            // .2
            try FileIO.makeDirectories(a.root + "/cooling")
            try FileIO.writeAtomically(a.recordPath(key("torn")), [], .durable)      // empty record
            let cut = AttachmentRecord.encode(key("half"), [ip("10.78.0.4")])
            try FileIO.writeAtomically(a.recordPath(key("half")), Array(cut.dropLast(3)), .durable)
            #expect(try FileIO.createExclusive(a.ipPath(ip("10.78.0.3")), [], .durable))  // empty address file
            try FileIO.writeAtomically(a.coolingPath(ip("10.78.0.5")), [], .hint)         // empty cooldown mark
            #expect(try a.addresses(of: key("torn")) == nil)
            #expect(try a.addresses(of: key("half")) == nil)

            // ADD of the torn record's own key is not a duplicate; the empty address file still holds .3.
            let got = try alloc(a, key("torn"))
            #expect(got == [ip("10.78.0.4")])
            try a.release(key("torn"))
            #expect(try a.addresses(of: key("torn")) == nil)
            // DEL of a torn record removes it.
            try a.release(key("half"))
            #expect(!FileIO.exists(a.recordPath(key("half"))))
            // GC removes the ownerless address file and the unreadable cooldown mark, and keeps the valid one.
            try FileIO.writeAtomically(a.recordPath(key("again")), [0x65], .durable)
            #expect(a.collectGarbage(valid: [key("keep")]).isEmpty)
            #expect(listDir(a.root + "/attachments") == ["keep:eth0"])
            #expect(listDir(a.root + "/ips") == ["10.78.0.2"])
            #expect(!listDir(a.root + "/cooling").contains("10.78.0.5"))
            #expect(storeProblems(a).problems == [])
        }
    }

    /// An address file whose owner has no record (state the protocol avoids, but e.g. a hand-edited store).
    @Test func orphanAddressFileIsRemovedByGC() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.77.0.0/30")   // only .2
            _ = try alloc(a, key("warm")); try a.release(key("warm"))
            #expect(try FileIO.createExclusive(a.ipPath(ip("10.77.0.2")), key("ghost").ownerBytes, .durable))
            #expect(try a.exhaustion() != nil)
            guard case .exhausted? = ipamError({ _ = try alloc(a, key("c1")) }) else {
                Issue.record("an orphan address file must still block the address until GC"); return
            }
            // DEL of the owner key (no record) is harmless.
            try a.release(key("ghost"))
            // GC removes it even when the owner is in the valid set (no record lists it).
            #expect(a.collectGarbage(valid: [key("ghost")]).isEmpty)
            #expect(listDir(a.root + "/ips") == [])
            #expect(try a.exhaustion() == nil)
            #expect(try alloc(a, key("c1")) == [ip("10.77.0.2")])
        }
    }

    @Test func addressFileWithGarbageOrForeignOwnerIsRemovedByGC() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.78.0.0/24")
            _ = try alloc(a, key("keep"))                                  // .2
            writeFile(a.root + "/ips/10.78.0.3", "")                        // empty
            writeFile(a.root + "/ips/10.78.0.4", "one-line-only")           // malformed
            writeFile(a.root + "/ips/10.78.0.5", "keep\neth0\n")            // valid owner, not in its record
            #expect(a.collectGarbage(valid: [key("keep")]).isEmpty)
            #expect(listDir(a.root + "/ips") == ["10.78.0.2"])
            #expect(storeProblems(a).problems == [])
        }
    }

    /// A leftover temporary file from a writeAtomically killed before its rename. The crash is real: a forked
    /// child runs ADD with RLIMIT_FSIZE at 10 bytes, so the kernel kills it (SIGXFSZ) in the middle of writing the
    /// record's temporary file, whatever that file is called.
    @Test func addKilledWhileWritingTheRecordLeavesNoReservation() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.79.0.0/24")
            _ = try alloc(a, key("c1"))
            let before = Set(listDir(a.root + "/attachments"))
            let sig = crashWorker("crash-alloc", a, ranges: #"[[{"subnet":"10.79.0.0/24"}]]"#, fileSizeLimit: 10)
            #expect(sig == SIGXFSZ, "the worker was not killed mid-write")
            #expect(Set(listDir(a.root + "/attachments")).isSuperset(of: before))
            // The killed ADD holds nothing; a retry works and is not a duplicate; nothing half-written is used.
            #expect(try a.addresses(of: key("crashed")) == nil)
            #expect(try alloc(a, key("crashed")) == [ip("10.79.0.3")])
            try a.check(key("crashed"), expected: [ip("10.79.0.3")])
            try a.release(key("crashed"))
            try a.release(key("c1"))
            #expect(try a.exhaustion() == nil)
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(listDir(a.root + "/ips") == [])
        }
    }

    /// Hand-made leftovers, named as writeAtomically names its temporary files (".<name>.tmp.<pid>"), and in the
    /// older "<name>.tmp.<pid>" form, are ignored by ADD, DEL and STATUS.
    @Test func leftoverTemporaryFilesAreIgnored() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.79.1.0/24")
            _ = try alloc(a, key("c1"))
            let rec = String(decoding: AttachmentRecord.encode(key("c2"), [ip("10.79.1.3")]), as: UTF8.self)
            writeFile(a.root + "/attachments/.c2:eth0.tmp.99999", rec)
            writeFile(a.root + "/attachments/c2:eth0.tmp.99998", rec)
            writeFile(a.root + "/.last_reserved_ip.0.tmp.99999", "10.79.1.200")
            writeFile(a.root + "/last_reserved_ip.0.tmp.99998", "10.79.1.201")
            #expect(try a.addresses(of: key("c2")) == nil)
            #expect(try alloc(a, key("c2")) == [ip("10.79.1.3")])
            try a.release(key("c2"))
            try a.release(key("c1"))
            #expect(try a.exhaustion() == nil)
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(listDir(a.root + "/ips") == [])
        }
    }

    /// Regression (found by this suite, fixed in d4be4fa): writeAtomically always runs under the lock, so any
    /// temporary file GC finds under the lock is a leftover of a killed process; GC must remove it, or it leaks.
    @Test func gcRemovesLeftoverTemporaryFiles() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.80.0.0/24")
            _ = try alloc(a, key("c1"))
            let ranges = #"[[{"subnet":"10.80.0.0/24"}]]"#
            #expect(crashWorker("crash-alloc", a, ranges: ranges, fileSizeLimit: 10) == SIGXFSZ)
            #expect(crashWorker("crash-cursor", a, ranges: ranges, fileSizeLimit: 4) == SIGXFSZ)
            #expect(a.collectGarbage(valid: [key("c1")]).isEmpty)
            #expect(listDir(a.root + "/attachments") == ["c1:eth0"])
            #expect(listDir(a.root + "/ips") == ["10.80.0.2"])
            #expect(listDir(a.root) == ["attachments", "ips", "last_reserved_ip.0", "lock"])
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.80.0.2")
        }
    }

    /// Regression (found by this suite, fixed in d4be4fa): a container ID or interface name may legally contain
    /// ".tmp." (CNI allows `[A-Za-z0-9_.-]` in container IDs; "eth0.tmp.5" is a valid Linux name). Listing must not
    /// hide such records from GC.
    @Test func gcCollectsAttachmentsWhoseNamesContainDotTmpDot() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.81.0.0/24")
            _ = try alloc(a, key("pod.tmp.1"))
            _ = try alloc(a, key("c2", "eth0.tmp.5"))
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(listDir(a.root + "/attachments") == [], "records named *.tmp.* survived GC")
            #expect(listDir(a.root + "/ips") == [])
        }
    }

    // MARK: GC

    @Test func gcFreesInvalidAttachmentsAndKeepsValidOnesUntouched() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, ranges: #"[[{"subnet":"10.82.0.0/24"}],[{"subnet":"fd00:82::/64"}]]"#)
            for i in 0..<10 { _ = try alloc(a, key("c\(i)")) }
            let valid: Set<AttachmentKey> = [key("c1"), key("c4"), key("c9")]
            var before: [String: String] = [:]
            for k in valid {
                before[a.recordPath(k)] = fileText(a.recordPath(k))
                for x in try a.addresses(of: k)! { before[a.ipPath(x)] = fileText(a.ipPath(x)) }
            }
            let cursor0 = fileText(a.root + "/last_reserved_ip.0")
            #expect(a.collectGarbage(valid: valid).isEmpty)
            let (problems, held) = storeProblems(a)
            #expect(problems == [])
            #expect(Set(held.keys) == valid)
            for (p, t) in before { #expect(fileText(p) == t, "\(p) changed") }
            #expect(listDir(a.root + "/ips").count == 6)
            #expect(fileText(a.root + "/last_reserved_ip.0") == cursor0)
            // Round-robin continues after GC.
            #expect(try alloc(a, key("n")) == [ip("10.82.0.12"), ip("fd00:82::c")])
        }
    }

    @Test func gcWithEverythingValidChangesNothing() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.83.0.0/24")
            for i in 0..<5 { _ = try alloc(a, key("c\(i)")) }
            let all = Set((0..<5).map { key("c\($0)") })
            #expect(a.collectGarbage(valid: all).isEmpty)
            #expect(listDir(a.root + "/ips").count == 5)
            #expect(listDir(a.root + "/attachments").count == 5)
            #expect(storeProblems(a).problems == [])
        }
    }

    @Test func gcOfAMissingStoreIsANoOp() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.84.0.0/24", network: "absent")
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(!FileIO.exists(a.root))
        }
    }

    @Test func gcIgnoresUnparseableRecordNames() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.85.0.0/24")
            _ = try alloc(a, key("c1"))
            writeFile(a.root + "/attachments/README", "not ours")
            #expect(a.collectGarbage(valid: []).isEmpty)
            #expect(listDir(a.root + "/attachments") == ["README"])
            #expect(listDir(a.root + "/ips") == [])
        }
    }

    // MARK: cost independence

    /// 2,000 allocations in a /16 are consecutive: each ADD continues from the cursor.
    @Test func twoThousandAllocationsInASlash16() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.90.0.0/16")
            var expected = ip("10.90.0.2")
            for i in 0..<2000 {
                let got = try alloc(a, key("c\(i)"))
                if got != [expected] { Issue.record("allocation \(i): \(got) != \(expected)"); return }
                expected = expected.next()
            }
            #expect(listDir(a.root + "/ips").count == 2000)
            #expect(fileText(a.root + "/last_reserved_ip.0") == "10.90.7.209")
            try a.release(key("c0"))
            #expect(try alloc(a, key("next")) == [ip("10.90.7.210")])
        }
    }

    /// ADD does not list `ips/`: 2,000 unrelated files there (bogus names, and address files far behind the cursor
    /// that a scan-from-the-start allocator would walk over) change nothing; the address right after the cursor
    /// is picked, and the bogus files are never touched.
    @Test func allocationIgnoresUnrelatedFilesAwayFromTheCursor() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.91.0.0/16")
            _ = try alloc(a, key("warm")); try a.release(key("warm"))
            for i in 0..<1000 { writeFile(a.root + "/ips/bogus-\(i)", "x") }
            var x = ip("10.91.0.2")
            for _ in 0..<1000 { writeFile(a.root + "/ips/\(x)", "nobody\nnothing\n"); x = x.next() }
            writeFile(a.root + "/last_reserved_ip.0", "10.91.200.7")
            #expect(try alloc(a, key("c1")) == [ip("10.91.200.8")])
            #expect(try alloc(a, key("c2")) == [ip("10.91.200.9")])
            try a.release(key("c1"))
            try a.check(key("c2"), expected: [ip("10.91.200.9")])
            #expect(listDir(a.root + "/ips").count == 2001)
            #expect(fileText(a.root + "/ips/bogus-7") == "x")
        }
    }

    /// The walk from the cursor skips held addresses one by one and ends at the first free one, even when that is
    /// right behind the cursor after a wrap.
    @Test func walkFromCursorWrapsToTheOnlyFreeAddress() throws {
        try withTempDir { (d: String) throws in
            let a = allocator(d, subnet: "10.92.0.0/22")   // .0.1-.3.254, 1021 assignable
            _ = try alloc(a, key("warm")); try a.release(key("warm"))
            var x = ip("10.92.0.2")
            var n = 0
            while x != ip("10.92.3.255") {
                if x != ip("10.92.1.100") { writeFile(a.root + "/ips/\(x)", "h\neth0\n"); n += 1 }
                x = x.next()
            }
            writeFile(a.root + "/last_reserved_ip.0", "10.92.1.101")
            #expect(try alloc(a, key("c1")) == [ip("10.92.1.100")])
            guard case .exhausted? = ipamError({ _ = try alloc(a, key("c2")) }) else {
                Issue.record("expected exhausted with every address held"); return
            }
            #expect(n == 1020)
        }
    }
}
