import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a machine's facts; tests give a fake or a fixture tree.
package protocol HostProbing: Sendable {
    /// The machine's facts, with the storage measured at `storagePath` and the port of `listen` tried.
    func facts(storagePath: String, listen: String?) -> HostFacts
}

/// Reads `/proc`, `/sys`, `/etc/os-release` and `statvfs` below `root` (`/` for this machine).
///
/// Every unreadable file leaves its value `nil`, so the check says "unknown" instead of failing.
/// Interface addresses and the listen-port test are read from the live machine only when `root` is `/`.
package struct SystemHostProbe: HostProbing {
    package var root: String

    /// `root` may be relative; it is resolved against the current directory.
    package init(root: String = "/") {
        self.root = FileSystem.absolute(root)
    }

    private var isLiveMachine: Bool { PathRules.normalized(root) == "/" }

    package func facts(storagePath: String, listen: String?) -> HostFacts {
        var listenFree: Bool?
        if isLiveMachine, let listen, let address = ListenAddress(listen) {
            listenFree = PortProbe.isFree(address)
        }
        return HostFacts(
            cores: cores(),
            memoryBytes: memoryBytes(),
            storage: storage(at: storagePath),
            interfaces: interfaces(),
            os: operatingSystem(),
            listenPortFree: listenFree,
            listenAddress: listenFree == nil ? nil : listen,
            defaultRouteInterfaces: defaultRouteInterfaces()
        )
    }

    // MARK: CPU and memory

    func cores() -> Int? {
        if let online = read("/sys/devices/system/cpu/online"), let count = Self.countCPUList(online) {
            return count
        }
        guard let cpuinfo = read("/proc/cpuinfo") else { return nil }
        let count = cpuinfo.split(separator: "\n").filter { $0.hasPrefix("processor") }.count
        return count > 0 ? count : nil
    }

    /// `0-3,6,8-9` → 7.
    static func countCPUList(_ text: String) -> Int? {
        var count = 0
        for part in text.trimmingCharacters(in: " \n").split(separator: ",") {
            let bounds = part.split(separator: "-")
            guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard let last, last >= first, bounds.count <= 2 else { return nil }
            count += last - first + 1
        }
        return count > 0 ? count : nil
    }

    func memoryBytes() -> Int64? {
        guard let meminfo = read("/proc/meminfo") else { return nil }
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kib = Int64(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }

    // MARK: Storage

    /// Free space at the path (or its nearest existing parent) and the type of the disk behind it.
    func storage(at path: String) -> HostFacts.Storage {
        var result = HostFacts.Storage(path: path)
        let existing = nearestExisting(join(path))
        var stats = statvfs()
        if let (free, total) = fixtureSpace() {
            result.freeBytes = free
            result.totalBytes = total
        } else if statvfs(existing, &stats) == 0 {
            result.freeBytes = Int64(stats.f_bavail) * Int64(stats.f_frsize)
            result.totalBytes = Int64(stats.f_blocks) * Int64(stats.f_frsize)
        }
        if let device = blockDevice(for: path) {
            result.device = device
            result.rotational = rotational(device)
        }
        return result
    }

    /// A fixture machine's disk space, from `<root>/statvfs` (`free_bytes total_bytes`), so tests that type drive
    /// sizes see the same machine everywhere; never read for `/`.
    func fixtureSpace() -> (Int64, Int64)? {
        guard root != "/", let text = read("/statvfs") else { return nil }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int64($0) }
        guard fields.count == 2 else { return nil }
        return (fields[0], fields[1])
    }

    /// The block device mounted at the longest mount point that contains `path`, from `/proc/mounts`.
    func blockDevice(for path: String) -> String? {
        guard let mounts = read("/proc/mounts") else { return nil }
        let target = PathRules.normalized(path)
        var best: (mountPoint: String, device: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2 else { continue }
            let mountPoint = PathRules.normalized(Self.unescapeMount(String(fields[1])))
            let source = String(fields[0])
            guard target == mountPoint || PathRules.isInside(target, mountPoint) else { continue }
            if best == nil || mountPoint.count >= best!.mountPoint.count {
                best = (mountPoint, source)
            }
        }
        guard let source = best?.device, source.hasPrefix("/dev/") else { return nil }
        var name = String(source.dropFirst("/dev/".count))
        if name.hasPrefix("mapper/") || name.hasPrefix("disk/") { return nil }
        // A partition's queue lives with its parent disk: sda1 → sda, nvme0n1p2 → nvme0n1.
        if read("/sys/block/\(name)/queue/rotational") == nil {
            if let parent = parentDisk(of: name) { name = parent }
        }
        return name
    }

    private func parentDisk(of partition: String) -> String? {
        var candidate = partition
        while let last = candidate.last, last.isNumber { candidate.removeLast() }
        if candidate.hasSuffix("p"), candidate.dropLast().last?.isNumber == true { candidate.removeLast() }
        guard candidate != partition, !candidate.isEmpty else { return nil }
        return read("/sys/block/\(candidate)/queue/rotational") == nil ? nil : candidate
    }

    func rotational(_ device: String) -> Bool? {
        switch read("/sys/block/\(device)/queue/rotational")?.trimmingCharacters(in: " \n") {
        case "1": true
        case "0": false
        default: nil
        }
    }

    /// `/proc/mounts` writes spaces in mount points as `\040`.
    static func unescapeMount(_ text: String) -> String {
        text.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
    }

    private func nearestExisting(_ path: String) -> String {
        var current = PathRules.normalized(path)
        while current != "/" {
            if access(current, F_OK) == 0 { return current }
            current = String(current[..<(current.lastIndex(of: "/") ?? current.startIndex)])
            if current.isEmpty { current = "/" }
        }
        return "/"
    }

    // MARK: Network

    func interfaces() -> [HostFacts.Interface] {
        let netPath = join("/sys/class/net")
        let names = Self.listDirectory(netPath).filter { $0 != "lo" && !$0.hasPrefix(".") && $0 != "bonding_masters" }
        let addresses = isLiveMachine ? LiveAddresses.read() : [:]
        var interfaces: [HostFacts.Interface] = names.sorted().map { name in
            let base = "/sys/class/net/\(name)"
            let isBridge = access(join("\(base)/bridge"), F_OK) == 0
            let members = isBridge ? Self.listDirectory(join("\(base)/brif")).sorted() : []
            let speed = read("\(base)/speed").flatMap { Int($0.trimmingCharacters(in: " \n")) }
            let vfs = read("\(base)/device/sriov_totalvfs").flatMap { Int($0.trimmingCharacters(in: " \n")) }
            return HostFacts.Interface(
                name: name,
                speedMbps: speed.flatMap { $0 > 0 ? $0 : nil },
                state: read("\(base)/operstate")?.trimmingCharacters(in: " \n") ?? "unknown",
                mac: read("\(base)/address")?.trimmingCharacters(in: " \n"),
                isPhysical: access(join("\(base)/device"), F_OK) == 0,
                isBridge: isBridge,
                bridgeMembers: members,
                sriovTotalVFs: vfs.flatMap { $0 > 0 ? $0 : nil },
                addresses: addresses[name] ?? []
            )
        }
        for bridge in interfaces where bridge.isBridge {
            for member in bridge.bridgeMembers {
                if let index = interfaces.firstIndex(where: { $0.name == member }) {
                    interfaces[index].bridge = bridge.name
                }
            }
        }
        return interfaces
    }

    /// The interfaces with a default route that is up, from `/proc/net/route` and `/proc/net/ipv6_route`.
    func defaultRouteInterfaces() -> [String] {
        var names: [String] = []
        for line in (read("/proc/net/route") ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                let flags = UInt32(fields[3], radix: 16), flags & 1 != 0
            else { continue }
            names.append(String(fields[0]))
        }
        for line in (read("/proc/net/ipv6_route") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            // destination prefix source prefix next-hop metric refcount use flags interface
            guard fields.count == 10, fields[0].allSatisfy({ $0 == "0" }), fields[1] == "00",
                let flags = UInt32(fields[8], radix: 16), flags & 1 != 0, fields[9] != "lo"
            else { continue }
            names.append(String(fields[9]))
        }
        return names.uniqued()
    }

    // MARK: Operating system

    func operatingSystem() -> HostFacts.OperatingSystem {
        var os = HostFacts.OperatingSystem()
        if let release = read("/etc/os-release") ?? read("/usr/lib/os-release") {
            let fields = Self.parseOSRelease(release)
            os.id = fields["ID"]
            os.versionID = fields["VERSION_ID"]
            os.prettyName = fields["PRETTY_NAME"]
        }
        os.kernel = read("/proc/sys/kernel/osrelease")?.trimmingCharacters(in: " \n")
        return os
    }

    /// `KEY="value"` lines of os-release(5).
    static func parseOSRelease(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            let key = String(line[..<equals])
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            fields[key] = value
        }
        return fields
    }

    // MARK: Files

    private func join(_ path: String) -> String {
        isLiveMachine ? path : PathRules.normalized(root + "/" + path)
    }

    /// A small text file below the root; `nil` when missing or unreadable.
    func read(_ path: String) -> String? {
        let full = join(path)
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.count < 4 << 20 {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 { return nil }
            if count == 0 { break }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
