import CNI
import ENIMultusCore
import JSON
import NetTypes
import Testing

@Suite struct UnitNetConfTests {
    // MARK: basics

    @Test("a minimal ipvlan config decodes with the defaults")
    func minimal() throws {
        let c = try decodeConf(ipvlanConf())
        #expect(c.name == "net1")
        #expect(c.type == "eni-multus")
        #expect(c.cniVersionString == "1.0.0")
        #expect(c.link == .ipvlan)
        #expect(c.master == "eth1")
        #expect(c.masterMAC == nil)
        #expect(c.mode == .l2)
        #expect(c.flag == .bridge)
        #expect(c.mtu == nil)
        #expect(c.allowPrimary == false)
        #expect(c.announce == false, "the kernel announces on link-up; the plugin's own GARP/NA is opt-in")
        #expect(try decodeConf(ipvlanConf(#""announce":true"#)).announce == true)
        #expect(c.ipam == nil && c.ipamType == nil)
        #expect(c.dns.isEmpty)
        #expect(c.runtimeIPs.isEmpty && c.argsIPs.isEmpty)
        #expect(c.runtimeMAC == nil && c.runtimeDeviceID == nil)
        #expect(c.prevResult == nil)
        #expect(c.logFile == nil)
        #expect(c.logLevel == .info)
        #expect(c.validAttachments == nil)
    }

    @Test("unknown keys, capabilities and nulls are tolerated")
    func tolerant() throws {
        let c = try decodeConf(ipvlanConf(
            #""capabilities":{"ips":true,"mac":true},"somethingElse":[1,2,{"x":null}],"mtu":null,"mode":null,"ipam":null,"logFile":null"#))
        #expect(c.mtu == nil)
        #expect(c.mode == .l2)
        #expect(c.ipam == nil)
        #expect(c.logFile == nil)
        #expect(c.raw["capabilities"] != nil)
    }

    @Test("the config must be an object", arguments: ["[]", "\"x\"", "5", "null", "true"])
    func notAnObject(text: String) {
        let e = confError(text)
        #expect(e?.code == 6)
        #expect(e?.msg.contains("must be a JSON object") == true)
    }

    // MARK: name

    @Test("valid network names", arguments: ["a", "net1", "my-net_1.0", "A", "0", String(repeating: "n", count: 200)])
    func nameValid(name: String) throws {
        let c = try decodeConf(ipvlanConf(#""name":"\#(name)""#))
        #expect(c.name == name)
    }

    @Test("invalid network names: code 7",
          arguments: ["../x", "/abs", "a/b", "a\\u0000b", "", ".hidden", "..", ".", "-x", "_x", "a b", "a:b", "ä",
                      String(repeating: "n", count: 201), "a\\nb", "a\\\\b"])
    func nameInvalid(jsonText: String) {
        let e = confError(ipvlanConf(#""name":"\#(jsonText)""#))
        #expect(e?.code == 7, "name \(jsonText)")
        #expect(e?.msg.hasPrefix("name ") == true)
        #expect(e?.msg.contains("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$") == true)
    }

    @Test("missing name is code 7; a non-string name is code 6")
    func nameMissingOrWrongType() {
        let missing = confError(#"{"cniVersion":"1.0.0","type":"eni-multus","master":"eth1"}"#)
        #expect(missing?.code == 7)
        #expect(missing?.msg == "name is required in the network config")
        let null = confError(ipvlanConf(#""name":null"#))
        #expect(null?.code == 7)
        let num = confError(ipvlanConf(#""name":5"#))
        #expect(num?.code == 6)
        #expect(num?.msg == "name must be a string, not number 5")
    }

    // MARK: wrong JSON types → 6 with the field path

    @Test("wrong JSON types are code 6 naming the field path",
          arguments: [
              (#""mtu":"1500""#, "mtu must be an integer, not string \"1500\""),
              (#""master":5"#, "master must be a string, not number 5"),
              (#""ipam":[]"#, "ipam must be an object, not array []"),
              (#""runtimeConfig":{"ips":"x"}"#, "runtimeConfig.ips must be an array, not string \"x\""),
              (#""runtimeConfig":{"ips":[5]}"#, "runtimeConfig.ips[0] must be a string, not number 5"),
              (#""runtimeConfig":{"mac":true}"#, "runtimeConfig.mac must be a string, not boolean true"),
              (#""runtimeConfig":{"deviceID":{}}"#, "runtimeConfig.deviceID must be a string, not object {}"),
              (#""runtimeConfig":[]"#, "runtimeConfig must be an object, not array []"),
              (#""args":"x""#, "args must be an object, not string \"x\""),
              (#""args":{"cni":5}"#, "args.cni must be an object, not number 5"),
              (#""args":{"cni":{"ips":"10.0.0.5"}}"#, "args.cni.ips must be an array, not string \"10.0.0.5\""),
              (#""ipam":{"type":5}"#, "ipam.type must be a string, not number 5"),
              (#""link":true"#, "link must be a string, not boolean true"),
              (#""mode":2"#, "mode must be a string, not number 2"),
              (#""flag":[]"#, "flag must be a string, not array []"),
              (#""linkInContainer":"yes""#, "linkInContainer must be a boolean, not string \"yes\""),
              (#""allowPrimary":1"#, "allowPrimary must be a boolean, not number 1"),
              (#""announce":"yes""#, "announce must be a boolean, not string \"yes\""),
              (#""logFile":1"#, "logFile must be a string, not number 1"),
              (#""dns":[]"#, "dns must be an object, not array"),
              (#""dns":{"nameservers":"x"}"#, "dns.nameservers must be an array of strings"),
              (#""dns":{"domain":5}"#, "dns.domain must be a string"),
              (#""cni.dev/valid-attachments":{}"#, "cni.dev/valid-attachments must be an array, not object {}"),
              (#""cni.dev/valid-attachments":[5]"#, "cni.dev/valid-attachments[0] must be an object, not number"),
              (#""cni.dev/valid-attachments":[{"containerID":1,"ifname":"a"}]"#,
               "cni.dev/valid-attachments[0].containerID must be a string, not number 1"),
              (#""masterMAC":0"#, "masterMAC must be a string, not number 0"),
              (#""device":[]"#, "device must be a string, not array []"),
              (#""pciBusID":1"#, "pciBusID must be a string, not number 1"),
              (#""kernelpath":false"#, "kernelpath must be a string, not boolean false"),
          ])
    func wrongTypes(extra: String, msg: String) {
        let e = confError(ipvlanConf(extra))
        #expect(e?.code == 6, "\(extra)")
        #expect(e?.msg == msg)
    }

    @Test("long wrong-typed values are excerpted in the message")
    func excerpt() throws {
        let long = String(repeating: "x", count: 500)
        let e = try #require(confError(ipvlanConf(#""mtu":"\#(long)""#)))
        #expect(e.code == 6)
        #expect(e.msg.utf8.count < 160)
        #expect(e.msg.hasSuffix("..."))
    }

    // MARK: link, mode, flag, mtu

    @Test("link values", arguments: [("ipvlan", LinkKind.ipvlan), ("host-device", .hostDevice)])
    func linkValid(text: String, want: LinkKind) throws {
        let c = try decodeConf(ipvlanConf(#""link":"\#(text)","device":"eth2""#))
        #expect(c.link == want)
    }

    @Test("bad link values: code 7", arguments: ["", "macvlan", "IPVLAN", "hostdevice", "host_device"])
    func linkInvalid(text: String) {
        let e = confError(ipvlanConf(#""link":"\#(text)""#))
        #expect(e?.code == 7)
        #expect(e?.msg.hasPrefix("link: \"\(text)\"") == true)
    }

    @Test("ipvlan modes", arguments: [("l2", IPVlanModeName.l2), ("l3", .l3), ("l3s", .l3s)])
    func modeValid(text: String, want: IPVlanModeName) throws {
        #expect(try decodeConf(ipvlanConf(#""mode":"\#(text)""#)).mode == want)
    }

    @Test("bad ipvlan modes: code 7", arguments: ["L2", "l4", "bridge", "passthru", "l2 "])
    func modeInvalid(text: String) {
        let e = confError(ipvlanConf(#""mode":"\#(text)""#))
        #expect(e?.code == 7)
        #expect(e?.msg == "mode: \"\(text)\" is not one of l2, l3, l3s")
    }

    /// The reference ipvlan plugin (`modeFromString`) treats `"mode": ""` as l2; NADs written for it must convert
    /// by changing only `type`.
    @Test("an empty mode means l2, as in the reference ipvlan plugin")
    func modeEmptyIsL2() throws {
        let c = try decodeConf(ipvlanConf(#""mode":"""#))
        #expect(c.mode == .l2)
    }

    @Test("ipvlan flags", arguments: [("bridge", IPVlanFlagName.bridge), ("private", .private), ("vepa", .vepa)])
    func flagValid(text: String, want: IPVlanFlagName) throws {
        #expect(try decodeConf(ipvlanConf(#""flag":"\#(text)""#)).flag == want)
    }

    @Test("bad ipvlan flags: code 7", arguments: ["BRIDGE", "passthru", "l2", "priv"])
    func flagInvalid(text: String) {
        let e = confError(ipvlanConf(#""flag":"\#(text)""#))
        #expect(e?.code == 7)
        #expect(e?.msg == "flag: \"\(text)\" is not one of bridge, private, vepa")
    }

    @Test("mtu values", arguments: [("0", nil), ("68", 68), ("1500", 1500), ("9001", 9001), ("65535", 65535)] as [(String, UInt32?)])
    func mtuValid(text: String, want: UInt32?) throws {
        #expect(try decodeConf(ipvlanConf(#""mtu":\#(text)"#)).mtu == want)
    }

    @Test("bad mtu values: code 7", arguments: ["67", "1", "-1", "65536", "1500.5", "1e3", "99999999999999999999"])
    func mtuInvalid(text: String) {
        let e = confError(ipvlanConf(#""mtu":\#(text)"#))
        #expect(e?.code == 7, "mtu \(text)")
        #expect(e?.msg.hasPrefix("mtu") == true)
    }

    // MARK: master / masterMAC

    @Test("ipvlan ADD and CHECK need master or masterMAC; DEL, STATUS and GC do not")
    func masterRequired() throws {
        let conf = #"{"cniVersion":"1.1.0","name":"n","type":"eni-multus"}"#
        for cmd in [CNICommand.add, .check] {
            let e = confError(conf, cmd)
            #expect(e?.code == 7)
            #expect(e?.msg.contains("\"master\"") == true)
        }
        for cmd in [CNICommand.del, .status] { #expect(confError(conf, cmd) == nil) }
        #expect(confError(#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[]}"#, .gc) == nil)
        // GC without valid-attachments is refused rather than taken as "free everything".
        #expect(confError(conf, .gc)?.code == 7)
        let byMAC = try decodeConf(#"{"cniVersion":"1.1.0","name":"n","masterMAC":"0A:1B:2C:3D:4E:5F"}"#)
        #expect(byMAC.master == nil)
        #expect(byMAC.masterMAC?.description == "0a:1b:2c:3d:4e:5f")
    }

    @Test("master must be an interface name: code 7", arguments: ["", "a/b", "a:b", "a b", ".", "..", String(repeating: "m", count: 16)])
    func masterInvalid(name: String) {
        let e = confError(ipvlanConf(#""master":"\#(name)""#))
        #expect(e?.code == 7)
        #expect(e?.msg.hasPrefix("master \"\(name)\" is invalid") == true)
    }

    @Test("bad masterMAC: code 7", arguments: ["", "eth1", "0a:1b:2c:3d:4e", "0a:1b:2c:3d:4e:5g"])
    func masterMACInvalid(text: String) {
        let e = confError(ipvlanConf(#""masterMAC":"\#(text)""#))
        #expect(e?.code == 7)
        #expect(e?.msg == "masterMAC: \"\(text)\" is not a hardware address")
    }

    @Test("linkInContainer: true is code 2; false is fine")
    func linkInContainer() throws {
        let e = confError(ipvlanConf(#""linkInContainer":true"#))
        #expect(e?.code == 2)
        #expect(e?.msg.contains("linkInContainer") == true)
        #expect(try decodeConf(ipvlanConf(#""linkInContainer":false"#)).link == .ipvlan)
    }

    // MARK: host-device selectors

    @Test("host-device: exactly one selector",
          arguments: [#""device":"eth2""#, #""hwaddr":"0a:1b:2c:3d:4e:5f""#, #""kernelpath":"/sys/devices/pci0000:00/0000:00:06.0""#,
                      #""pciBusID":"0000:00:06.0""#, #""runtimeConfig":{"deviceID":"0000:00:07.0"}"#,
                      #""pciBusID":"0000:00:06.0","runtimeConfig":{"deviceID":"0000:00:07.0"}"#])
    func hostDeviceOneSelector(extra: String) throws {
        let c = try decodeConf(hostDeviceConf(extra))
        #expect(c.link == .hostDevice)
    }

    @Test("host-device without a selector is code 7 for ADD and CHECK only")
    func hostDeviceNoSelector() {
        for cmd in [CNICommand.add, .check] {
            let e = confError(hostDeviceConf(), cmd)
            #expect(e?.code == 7)
            #expect(e?.msg.hasPrefix("host-device needs one of") == true)
        }
        for cmd in [CNICommand.del, .status] { #expect(confError(hostDeviceConf(), cmd) == nil) }
        // An empty deviceID is no selector.
        #expect(confError(hostDeviceConf(#""runtimeConfig":{"deviceID":""}"#))?.code == 7)
    }

    @Test("host-device with two or more selectors is code 7",
          arguments: [
              (#""device":"eth2","hwaddr":"0a:1b:2c:3d:4e:5f""#, 2),
              (#""device":"eth2","pciBusID":"0000:00:06.0""#, 2),
              (#""kernelpath":"/sys/x","pciBusID":"0000:00:06.0""#, 2),
              (#""device":"eth2","hwaddr":"0a:1b:2c:3d:4e:5f","kernelpath":"/sys/x","pciBusID":"00:06.0""#, 4),
          ])
    func hostDeviceTwoSelectors(extra: String, count: Int) {
        let e = confError(hostDeviceConf(extra))
        #expect(e?.code == 7)
        #expect(e?.msg.contains("exactly one") == true)
        #expect(e?.msg.contains("(\(count) given)") == true)
    }

    @Test("device must be an interface name; hwaddr a MAC", arguments: [#""device":"a/b""#, #""device":"""#, #""hwaddr":"x""#])
    func hostDeviceBadSelectorValues(extra: String) {
        #expect(confError(hostDeviceConf(extra))?.code == 7)
    }

    @Test("valid PCI addresses", arguments: ["0000:00:06.0", "00:06.0", "ffff:ff:1f.7", "0000:AB:cd.3"])
    func pciValid(text: String) throws {
        #expect(NetConf.isPCIAddress(text))
        #expect(try decodeConf(hostDeviceConf(#""pciBusID":"\#(text)""#)).pciBusID == text)
    }

    @Test("invalid PCI addresses: code 7",
          arguments: ["", "0000:00:06", "0000:00:06.8", "0000:00:06.", "000:00:06.0", "0000:0:06.0", "0000:00:6.0",
                      "0000:00:06.00", "00000:00:06.0", "zz:06.0", "0000:00:06.0/../..", "../../etc", "0000-00-06.0",
                      "1:0000:00:06.0", "０000:00:06.0", "0000:00:06.+"])
    func pciInvalid(text: String) {
        #expect(!NetConf.isPCIAddress(text), "\(text) is not a PCI address")
        let e = confError(hostDeviceConf(#""pciBusID":"\#(text)""#))
        #expect(e?.code == 7)
        #expect(e?.msg.hasPrefix("pciBusID:") == true)
    }

    @Test("valid kernelpath", arguments: ["/sys/devices/pci0000:00/0000:00:06.0", "/sys/x", "/sys/./a"])
    func kernelpathValid(text: String) throws {
        #expect(try decodeConf(hostDeviceConf(#""kernelpath":"\#(text)""#)).kernelpath == text)
    }

    @Test("kernelpath must be under /sys without '..': code 7",
          arguments: ["/sys", "/sys/", "/sysfs/x", "/proc/x", "sys/x", "", "/sys/../etc", "/sys/devices/../../etc", "/sys/a/..",
                      "/etc/sys/x", "/sys/../\u{301}etc"])  // "/" + U+0301 is one Character: found by the config fuzz target
    func kernelpathInvalid(text: String) {
        let e = confError(hostDeviceConf(#""kernelpath":"\#(text)""#))
        if text == "/sys/" {
            // "/sys/" itself is under /sys by prefix; tolerated (it has no net/ directory, ADD fails later).
            #expect(e == nil)
            return
        }
        #expect(e?.code == 7, "kernelpath \(text)")
        #expect(e?.msg.hasPrefix("kernelpath:") == true)
    }

    // MARK: ipam, dns

    @Test("ipam: type required when ipam has members; empty ipam means none")
    func ipam() throws {
        let c = try decodeConf(ipvlanConf(#""ipam":{"type":"eni-multus","subnet":"10.0.0.0/24"}"#))
        #expect(c.ipamType == "eni-multus")
        #expect(c.ipam?["subnet"] == .string("10.0.0.0/24"))
        let empty = try decodeConf(ipvlanConf(#""ipam":{}"#))
        #expect(empty.ipam == nil && empty.ipamType == nil)
        for bad in [#""ipam":{"subnet":"10.0.0.0/24"}"#, #""ipam":{"type":""}"#, #""ipam":{"type":null,"x":1}"#] {
            let e = confError(ipvlanConf(bad))
            #expect(e?.code == 7, "\(bad)")
            #expect(e?.msg.hasPrefix("ipam.type is required") == true)
        }
    }

    @Test("dns decodes every field")
    func dns() throws {
        let c = try decodeConf(ipvlanConf(#""dns":{"nameservers":["10.0.0.2","fd00::2"],"domain":"ex.com","search":["a.ex.com"],"options":["ndots:2"]}"#))
        #expect(c.dns.nameservers == ["10.0.0.2", "fd00::2"])
        #expect(c.dns.domain == "ex.com")
        #expect(c.dns.search == ["a.ex.com"])
        #expect(c.dns.options == ["ndots:2"])
    }

    // MARK: runtimeConfig and args

    @Test("runtimeConfig ips, mac, deviceID")
    func runtimeConfig() throws {
        let c = try decodeConf(ipvlanConf(
            #""runtimeConfig":{"ips":["10.0.0.5/24","fd00::5"],"mac":"0A:1B:2C:3D:4E:5F","deviceID":"0000:00:06.0","bandwidth":{"x":1}}"#))
        #expect(c.runtimeIPs.map(\.description) == ["10.0.0.5/24", "fd00::5"])
        #expect(c.runtimeMAC?.description == "0a:1b:2c:3d:4e:5f")
        #expect(c.runtimeDeviceID == "0000:00:06.0")
        let empty = try decodeConf(ipvlanConf(#""runtimeConfig":{"ips":[],"mac":"","deviceID":""}"#))
        #expect(empty.runtimeIPs.isEmpty && empty.runtimeMAC == nil && empty.runtimeDeviceID == nil)
    }

    @Test("bad runtimeConfig / args values: code 7 naming the field",
          arguments: [
              (#""runtimeConfig":{"ips":["10.0.0.256"]}"#, "runtimeConfig.ips: \"10.0.0.256\" is not an IP address or CIDR"),
              (#""runtimeConfig":{"ips":["10.0.0.5/24","x"]}"#, "runtimeConfig.ips: \"x\" is not an IP address or CIDR"),
              (#""runtimeConfig":{"mac":"0a:1b"}"#, "runtimeConfig.mac: \"0a:1b\" is not a hardware address"),
              (#""args":{"cni":{"ips":["fd00::5/200"]}}"#, "args.cni.ips: \"fd00::5/200\" is not an IP address or CIDR"),
          ])
    func runtimeConfigInvalid(extra: String, msg: String) {
        let e = confError(ipvlanConf(extra))
        #expect(e?.code == 7)
        #expect(e?.msg == msg)
    }

    @Test("args.cni.ips; other args are ignored")
    func argsIPs() throws {
        let c = try decodeConf(ipvlanConf(#""args":{"cni":{"ips":["10.0.0.7","fd00::7/64"],"other":1},"k8s":{"x":"y"}}"#))
        #expect(c.argsIPs.map(\.description) == ["10.0.0.7", "fd00::7/64"])
        let none = try decodeConf(ipvlanConf(#""args":{"k8s":{}}"#))
        #expect(none.argsIPs.isEmpty)
    }

    @Test("requestedIPs: CNI_ARGS IP first, then args.cni.ips, then runtimeConfig.ips; duplicates collapse")
    func requestedIPsOrder() throws {
        let c = try decodeConf(ipvlanConf(
            #""args":{"cni":{"ips":["10.0.1.7","10.0.0.5/24"]}},"runtimeConfig":{"ips":["fd00::9/64","10.0.1.7/24","10.0.2.8"]}"#))
        let cniArgs = try CNIArgs(parsing: "IP=10.0.0.5,fd00::5/64")
        let got = c.requestedIPs(cniArgs: cniArgs)
        // The first occurrence of an address wins (with its prefix length, or lack of one).
        #expect(got.map(\.description) == ["10.0.0.5", "fd00::5/64", "10.0.1.7", "fd00::9/64", "10.0.2.8"])
        #expect(c.requestedIPs(cniArgs: CNIArgs()).map(\.description) == ["10.0.1.7", "10.0.0.5/24", "fd00::9/64", "10.0.2.8"])
        let plain = try decodeConf(ipvlanConf())
        #expect(plain.requestedIPs(cniArgs: CNIArgs()).isEmpty)
        #expect(plain.requestedIPs(cniArgs: cniArgs).map(\.description) == ["10.0.0.5", "fd00::5/64"])
    }

    @Test("requestedIPs dedupes equal addresses written differently")
    func requestedIPsCanonical() throws {
        let c = try decodeConf(ipvlanConf(#""runtimeConfig":{"ips":["FD00:0::5","fd00::5/64"]}"#))
        #expect(c.requestedIPs(cniArgs: try CNIArgs(parsing: "IP=fd00:0:0:0:0:0:0:5")).map(\.description) == ["fd00::5"])
    }

    // MARK: prevResult, logging, GC attachments

    @Test("prevResult is kept as raw JSON")
    func prevResult() throws {
        let c = try decodeConf(ipvlanConf(#""prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"net1"}]}"#))
        #expect(c.prevResult?["interfaces"]?[0]?["name"] == .string("net1"))
    }

    /// `JSON` is `ExpressibleByNilLiteral`, so `obj["prevResult"].flatMap { $0.isNull ? nil : $0 }` turns `nil`
    /// into `JSON.null` and keeps it: a null prevResult must read as no prevResult.
    @Test("\"prevResult\": null means no prevResult")
    func prevResultNull() throws {
        let c = try decodeConf(ipvlanConf(#""prevResult":null"#))
        #expect(c.prevResult == nil)
    }

    @Test("logFile must be absolute", arguments: ["relative.log", "./x.log", "../x.log", "", "~/x.log"])
    func logFileRelative(path: String) {
        let e = confError(ipvlanConf(#""logFile":"\#(path)""#))
        #expect(e?.code == 7)
        #expect(e?.msg == "logFile: \"\(path)\" must be an absolute path")
    }

    @Test("logFile and logLevel accepted values")
    func logSettings() throws {
        for (lvl, want) in [("error", NetConf.LogLevel.error), ("info", .info), ("debug", .debug)] {
            let c = try decodeConf(ipvlanConf(#""logFile":"/var/log/eni-multus.log","logLevel":"\#(lvl)""#))
            #expect(c.logFile == "/var/log/eni-multus.log")
            #expect(c.logLevel == want)
        }
        #expect(NetConf.LogLevel.error < .info && NetConf.LogLevel.info < .debug)
        let e = confError(ipvlanConf(#""logLevel":"trace""#))
        #expect(e?.code == 7)
        #expect(e?.msg.hasPrefix("logLevel:") == true)
    }

    @Test("cni.dev/valid-attachments")
    func validAttachments() throws {
        let c = try decodeConf(ipvlanConf(
            #""cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"},{"containerID":"c2","ifname":"net2","extra":1}],"cni.dev/attachments":[{"containerID":"c1","ifname":"net1"}]"#),
            .gc)
        #expect(c.validAttachments == [NetConf.Attachment(containerID: "c1", ifname: "net1"), NetConf.Attachment(containerID: "c2", ifname: "net2")])
        let empty = try decodeConf(ipvlanConf(#""cni.dev/valid-attachments":[]"#), .gc)
        #expect(empty.validAttachments == [])
        for bad in [#"[{"containerID":"c1"}]"#, #"[{"ifname":"net1"}]"#, #"[{}]"#] {
            let e = confError(ipvlanConf(#""cni.dev/valid-attachments":\#(bad)"#), .gc)
            #expect(e?.code == 7)
            #expect(e?.msg == "cni.dev/valid-attachments[0] needs containerID and ifname")
        }
    }
}
