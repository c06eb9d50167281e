/// The verdict of one row of the hardware check against one profile.
package enum CheckStatus: String, Sendable, Comparable, Codable {
    case pass
    case warning
    case blocking

    private var rank: Int {
        switch self {
        case .pass: 0
        case .warning: 1
        case .blocking: 2
        }
    }

    package static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool { lhs.rank < rhs.rank }
}

/// One requirement measured on the host and judged against each offered profile.
package struct CheckRow: Equatable, Sendable, Codable {
    package struct Verdict: Equatable, Sendable, Codable {
        package var profile: String
        package var required: String
        package var status: CheckStatus
    }

    package var id: String
    package var title: String
    package var measured: String
    package var verdicts: [Verdict]
    /// Why the row is not a pass, for the person reading it.
    package var note: String?

    package func verdict(for profile: String) -> Verdict? {
        verdicts.first { $0.profile == profile }
    }

    package var worst: CheckStatus { verdicts.map(\.status).max() ?? .pass }
}

/// The hardware check: host facts against the sizing table. Pure; the probe gathers the facts.
package struct HostCheck: Equatable, Sendable {
    package var rows: [CheckRow]
    package var profiles: [String]

    /// Builds the rows; `requiredDiskGB` is what the install will put on the storage path, if known. The NIC rows
    /// judge `adapter` (the one the answers name), else the adapter that carries `address` (the node's chosen
    /// address), else the default route's.
    package init(
        facts: HostFacts,
        sizing: SizingTable,
        requiredDiskGB: Double? = nil,
        address: IPAddress? = nil,
        adapter: String? = nil
    ) {
        let offered = sizing.offered
        profiles = offered.map(\.id)
        var rows: [CheckRow] = []
        let floor = sizing.floor
        let rules = sizing.rules

        func row(
            _ id: String,
            _ title: String,
            measured: String,
            note: String? = nil,
            judge: (SizingTable.Profile) -> (required: String, status: CheckStatus)
        ) {
            let verdicts = offered.map { profile in
                let (required, status) = judge(profile)
                return CheckRow.Verdict(profile: profile.id, required: required, status: status)
            }
            rows.append(CheckRow(id: id, title: title, measured: measured, verdicts: verdicts, note: note))
        }

        // Cores
        let cores = facts.cores
        row(
            "cores",
            "CPU cores",
            measured: cores.map(String.init) ?? "unknown",
            note: cores.map { $0 < floor.cores ? "fewer than the \(floor.cores) cores any install needs" : nil }
                ?? "could not read /proc/cpuinfo"
        ) { profile in
            guard let cores else { return ("\(profile.cores)", .warning) }
            if cores < floor.cores { return ("\(profile.cores)", .blocking) }
            return ("\(profile.cores)", cores >= profile.cores ? .pass : .warning)
        }

        // Memory
        let memoryGB = facts.memoryBytes.map { Double($0) / 1_000_000_000 }
        let tolerance = 1 - rules.memoryTolerance
        row(
            "memory",
            "Memory",
            measured: memoryGB.map { "\(Self.format($0)) GB" } ?? "unknown",
            note: memoryGB.map {
                $0 < floor.memoryGB * tolerance
                    ? "less than the \(Self.format(floor.memoryGB)) GB any install needs" : nil
            }
                ?? "could not read /proc/meminfo"
        ) { profile in
            let required = "\(Self.format(profile.memoryGB)) GB"
            guard let memoryGB else { return (required, .warning) }
            if memoryGB < floor.memoryGB * tolerance { return (required, .blocking) }
            return (required, memoryGB >= profile.memoryGB * tolerance ? .pass : .warning)
        }

        // Free disk
        let freeGB = facts.storage?.freeBytes.map { Double($0) / 1_000_000_000 }
        let path = facts.storage?.path ?? "the storage path"
        row(
            "disk",
            "Free disk at \(path)",
            measured: freeGB.map { "\(Self.format($0)) GB" } ?? "unknown",
            note: freeGB == nil ? "could not measure free space at \(path)" : nil
        ) { profile in
            let needed = requiredDiskGB ?? profile.diskGB
            let required = "\(Self.format(needed)) GB"
            guard let freeGB else { return (required, .warning) }
            let blockingBelow = requiredDiskGB ?? (sizing.offered.map(\.diskGB).min() ?? 0)
            if freeGB < blockingBelow { return (required, .blocking) }
            return (required, freeGB >= needed ? .pass : .warning)
        }

        // Disk type
        let rotational = facts.storage?.rotational
        row(
            "disk-type",
            "Disk type",
            measured: rotational.map { $0 ? "HDD" : "SSD" } ?? "unknown",
            note: rotational == true
                ? "an HDD works, but an SSD is recommended" : (rotational == nil ? "could not tell SSD from HDD" : nil)
        ) { _ in
            guard let rotational else { return ("SSD", .warning) }
            return ("SSD", rotational && rules.ssdRecommended ? .warning : .pass)
        }

        // NIC count
        let adapters = facts.adapters(named: adapter, carrying: address)
        row(
            "nic-count",
            "Network adapters",
            measured: "\(adapters.count)",
            note: adapters.isEmpty
                ? "no network adapter found"
                : (adapters.count > rules.maxNICs ? "several NICs per node are not supported; the node uses one" : nil)
        ) { _ in
            if adapters.isEmpty { return ("\(rules.maxNICs)", .blocking) }
            return ("\(rules.maxNICs)", adapters.count > rules.maxNICs ? .warning : .pass)
        }

        // NIC speed: the adapter the node's traffic goes through, else the fastest adapter with a known speed.
        let uplinks = facts.uplinks(carrying: address, named: adapter)
        let judged = uplinks.contains { $0.speedMbps != nil } ? uplinks : adapters
        let fastest = judged.compactMap(\.speedMbps).filter { $0 > 0 }.max()
        let fastestGbps = fastest.map { Double($0) / 1000 }
        let sriov = adapters.contains { ($0.sriovTotalVFs ?? 0) > 0 }
        var speedNote: String? = fastestGbps == nil ? "the driver does not report the link speed" : nil
        if let fastestGbps, fastestGbps < rules.minRecommendedNICGbps {
            speedNote = "below the recommended minimum of \(Self.format(rules.minRecommendedNICGbps)) Gbps"
        }
        if sriov { speedNote = [speedNote, "SR-IOV available"].compactMap { $0 }.joined(separator: "; ") }
        row(
            "nic-speed",
            "NIC speed",
            measured: fastestGbps.map { speed in
                "\(Self.format(speed)) Gbps"
                    + (judged == uplinks ? " on " + uplinks.map(\.name).joined(separator: ", ") : "")
            } ?? "unknown",
            note: speedNote
        ) { profile in
            let required = "\(Self.format(profile.nicGbps)) Gbps"
            guard let fastestGbps else { return (required, .warning) }
            if fastestGbps < floor.nicGbps { return (required, .blocking) }
            return (required, fastestGbps >= profile.nicGbps ? .pass : .warning)
        }

        // Operating system
        let osVerdict = Self.judgeOS(facts.os, rules: rules.os)
        let osName = facts.os.prettyName ?? [facts.os.id, facts.os.versionID].compactMap { $0 }.joined(separator: " ")
        row(
            "os",
            "Operating system",
            measured: (osName.isEmpty ? "unknown" : osName) + (facts.os.kernel.map { ", kernel \($0)" } ?? ""),
            note: osVerdict.note
        ) { _ in
            ("kernel \(rules.os.kernelMin)+, tested distribution", osVerdict.status)
        }

        if let free = facts.listenPortFree, let address = facts.listenAddress {
            row(
                "listen-port",
                "Listen port \(address)",
                measured: free ? "free" : "in use",
                note: free ? nil : "another program listens on \(address)"
            ) { _ in ("free", free ? .pass : .blocking) }
        }
        self.rows = rows
    }

    /// Whether any row blocks an install.
    package var isBlocked: Bool { rows.contains { $0.worst == .blocking } }

    /// The rows that block, with the reason.
    package var blockingReasons: [String] {
        rows.filter { $0.worst == .blocking }.map { "\($0.title): \($0.measured)" + ($0.note.map { " (\($0))" } ?? "") }
    }

    /// The rows whose requirement differs between profiles.
    package static let sizedRows: Set<String> = ["cores", "memory", "disk", "nic-speed"]

    /// The largest offered profile whose sized rows (cores, memory, disk, NIC speed) all pass, if any.
    package var fittingProfile: String? {
        profiles.last { profile in
            rows.filter { Self.sizedRows.contains($0.id) }.allSatisfy { $0.verdict(for: profile)?.status == .pass }
        }
    }

    private static func judgeOS(
        _ os: HostFacts.OperatingSystem,
        rules: SizingTable.Rules.OS
    ) -> (status: CheckStatus, note: String?) {
        if let kernel = os.kernel, Self.compareVersions(kernel, rules.kernelMin) < 0 {
            return (.blocking, "kernel \(kernel) is older than \(rules.kernelMin)")
        }
        guard let id = os.id else { return (.warning, "could not read /etc/os-release") }
        guard let supported = rules.supported.first(where: { $0.id == id }) else {
            let tested = rules.supported.map { "\($0.id) \($0.minVersion)+" }.joined(separator: ", ")
            return (.warning, "\(id) is not a tested distribution (\(tested))")
        }
        guard let version = os.versionID else { return (.warning, "the \(id) version is unknown") }
        if Self.compareVersions(version, supported.minVersion) < 0 {
            return (.warning, "\(id) \(version) is older than the tested \(supported.minVersion)")
        }
        return (.pass, nil)
    }

    /// Compares dotted numeric versions, ignoring anything after the numbers (`6.1.0-18-amd64`).
    package static func compareVersions(_ lhs: String, _ rhs: String) -> Int {
        func numbers(_ text: String) -> [Int] {
            let numeric = text.prefix { $0.isNumber || $0 == "." }
            return numeric.split(separator: ".").map { Int($0) ?? 0 }
        }
        let a = numbers(lhs)
        let b = numbers(rhs)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }

    package static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e12 { return String(Int(value)) }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
