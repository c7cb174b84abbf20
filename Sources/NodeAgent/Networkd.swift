import Platform

/// The systemd-networkd drop-in that keeps the host's network manager off a multus ENI (AL2023, where
/// amazon-ec2-net-utils would otherwise configure the hot-plugged ENI, add policy routes, and fight the plugin).
///
/// `05-eni-multus-<eni-id>.network` sorts before amazon-ec2-net-utils' `70-<ifname>.network` (networkd uses the
/// first matching file in lexical order across /etc, /run and /lib), matches the ENI by MAC (never by a guessed
/// name: `eth1` on AL2 is `ens6` on AL2023), and says `Unmanaged=yes`. It is written *before* the attachment, so
/// the reload that amazon-ec2-net-utils triggers when the ENI appears already sees it.
public enum NetworkdDropIn {
    public static func fileName(eniID: String) -> String { "05-eni-multus-\(eniID).network" }

    public static func render(eniID: String, mac: String, cluster: String) -> String {
        """
        # Written by eni-multus-node for the multus ENI \(eniID) (cluster \(cluster)).
        # The node's network manager must leave this interface alone: eni-multus brings it up and the
        # eni-multus CNI plugin puts pod interfaces on it. Removed by `eni-multus-node detach`.
        [Match]
        MACAddress=\(mac.lowercased())

        [Link]
        Unmanaged=yes

        """
    }

    /// Writes the drop-in unless an identical one is there; returns whether it wrote.
    @discardableResult
    public static func write(paths: NodePaths, eniID: String, mac: String, cluster: String) throws(NodeError) -> Bool {
        let path = paths.networkdPath + "/" + fileName(eniID: eniID)
        let text = render(eniID: eniID, mac: mac, cluster: cluster)
        if FileIO.exists(path), (try? FileIO.read(path)) == Array(text.utf8) { return false }
        try io(FileIO.makeDirectories(paths.networkdPath, mode: 0o755))
        try io(FileIO.writeAtomically(path, Array(text.utf8), .durable, mode: 0o644, unlocked: true))
        return true
    }

    @discardableResult
    public static func remove(paths: NodePaths, eniID: String) throws(NodeError) -> Bool {
        try io(FileIO.remove(paths.networkdPath + "/" + fileName(eniID: eniID), .durable))
    }

    public static func exists(paths: NodePaths, eniID: String) -> Bool {
        FileIO.exists(paths.networkdPath + "/" + fileName(eniID: eniID))
    }
}

/// A record per ENI this agent configured completely (attached, DeleteOnTermination set, link up): a rerun does
/// not repeat ModifyNetworkInterfaceAttribute DeleteOnTermination for it. (EC2 reports the attachment's
/// `deleteOnTermination`; moto does not keep it, and a record also survives an EC2 that lies.)
public enum ENIRecord {
    public static func path(_ paths: NodePaths, _ eniID: String) -> String { paths.statePath + "/" + eniID }

    public static func exists(_ paths: NodePaths, _ eniID: String) -> Bool { FileIO.exists(path(paths, eniID)) }

    public static func write(_ paths: NodePaths, eniID: String, mac: String, subnetID: String, attachmentID: String)
        throws(NodeError)
    {
        try io(FileIO.makeDirectories(paths.statePath))
        let text = "eni=\(eniID)\nmac=\(mac)\nsubnet=\(subnetID)\nattachment=\(attachmentID)\ndeleteOnTermination=true\n"
        try io(FileIO.writeAtomically(path(paths, eniID), Array(text.utf8), .durable, unlocked: true))
    }

    /// The recorded attachment id (a reattached ENI has a new one: its DeleteOnTermination must be set again).
    public static func attachmentID(_ paths: NodePaths, _ eniID: String) -> String? {
        guard let text = (try? FileIO.read(path(paths, eniID)))?.map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("attachment=") {
            return String(line.dropFirst("attachment=".count))
        }
        return nil
    }

    public static func remove(_ paths: NodePaths, _ eniID: String) throws(NodeError) {
        try io(FileIO.remove(path(paths, eniID), .durable))
    }
}
