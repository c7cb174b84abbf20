import Glibc
import NetTypes
import Testing

import Netlink
import TestSupport

@Suite("KernelNetlinkIPVlan: createIPVlan on a kernel with ipvlan", .serialized, .tier())
struct KernelNetlinkIPVlanTests {
    @Test("every mode and flag round-trips through the kernel", arguments: IPVlanMode.allCases, IPVlanFlag.allCases)
    func modes(mode: IPVlanMode, flag: IPVlanFlag) throws {
        try withVethNamespace { _, socket, a, _ in
            try socket.createIPVlan(name: "nlt-ipv", parentIndex: a.index, mode: mode, flag: flag, mtu: nil, namespaceFD: nil)
            let link = try #require(try socket.link(named: "nlt-ipv"))
            #expect(link.kind == "ipvlan")
            #expect(link.ipvlanMode == mode)
            #expect(link.ipvlanFlag == flag)
            #expect(link.parentIndex == a.index)
            #expect(link.mtu == a.mtu)
            // ipvlan shares the parent's MAC.
            #expect(link.hardwareAddress == a.hardwareAddress)
            try socket.deleteLink(index: link.index)
            #expect(try socket.link(named: "nlt-ipv") == nil)
        }
    }

    @Test("MTU and creation straight into another namespace")
    func intoNamespace() throws {
        try withVethNamespace { _, socket, a, _ in
            try socket.setLink(index: a.index, LinkChange(mtu: 9001))
            let pod = try NetNS.createAnonymous()
            let podSocket = try RouteSocket(in: pod)
            try socket.createIPVlan(
                name: "nlt-pod", parentIndex: a.index, mode: .l3, flag: .private_, mtu: 1500, namespaceFD: pod.fd)
            #expect(try socket.link(named: "nlt-pod") == nil)
            let link = try #require(try podSocket.link(named: "nlt-pod"))
            #expect(link.kind == "ipvlan" && link.ipvlanMode == .l3 && link.ipvlanFlag == .private_ && link.mtu == 1500)
            // Configure it from its own namespace's socket.
            try podSocket.setLink(index: link.index, LinkChange(name: "eth1", up: true))
            try podSocket.addAddress(pfx("10.2.0.5/32"), index: link.index)
            try podSocket.addRoute(Route(destination: pfx("0.0.0.0/0"), outputIndex: link.index))
            #expect(try podSocket.routes().contains(Route(destination: pfx("0.0.0.0/0"), outputIndex: link.index)))
        }
    }

    @Test("duplicate name is EEXIST, missing parent is ENODEV, loopback parent is EINVAL")
    func errors() throws {
        try withVethNamespace { _, socket, a, _ in
            try socket.createIPVlan(name: "nlt-dup", parentIndex: a.index, mode: .l2, flag: .bridge, mtu: nil, namespaceFD: nil)
            let dup = expectNetlinkError("duplicate") {
                try socket.createIPVlan(name: "nlt-dup", parentIndex: a.index, mode: .l2, flag: .bridge, mtu: nil, namespaceFD: nil)
            }
            #expect(dup?.errno == EEXIST)
            #expect(dup?.operation == "create ipvlan \"nlt-dup\" on ifindex \(a.index)")
            let missing = expectNetlinkError("missing parent") {
                try socket.createIPVlan(name: "nlt-orphan", parentIndex: 0x7fff_fff0, mode: .l2, flag: .bridge, mtu: nil, namespaceFD: nil)
            }
            #expect(missing?.errno == ENODEV)
            // ipvlan refuses loopback as a parent.
            let loopback = expectNetlinkError("loopback parent") {
                try socket.createIPVlan(name: "nlt-lo", parentIndex: 1, mode: .l2, flag: .bridge, mtu: nil, namespaceFD: nil)
            }
            #expect(loopback?.errno == EINVAL)
        }
    }
}
