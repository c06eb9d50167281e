/// What systemd says of the engine's unit on a real install, for status, verify and the diagnostics bundle.
package struct ServiceState: Sendable, Equatable {
    package static let unit = "cachenode.service"

    package var activeState: String
    package var subState: String
    package var mainPID: Int32?
    package var user: String?
    package var unitFileState: String
    /// `MemoryMax=`, as `8G`; `nil` when unlimited.
    package var memoryMax: String?
    /// `CPUQuota=`, as `200%`; `nil` when unlimited.
    package var cpuQuota: String?

    package var isActive: Bool { activeState == "active" }

    /// `systemctl show` of the unit; `nil` without systemd or when the unit is not installed.
    package static func read(runner: any CommandRunning = SystemCommandRunner()) async -> ServiceState? {
        let result = await runner.run([
            "systemctl", "show",
            "--property=LoadState,ActiveState,SubState,MainPID,User,UnitFileState,MemoryMax,CPUQuotaPerSecUSec",
            unit,
        ])
        guard result.status == 0 else { return nil }
        return parse(result.output)
    }

    /// Parses `Key=value` lines of `systemctl show`.
    package static func parse(_ text: String) -> ServiceState? {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let load = values["LoadState"], load == "loaded", let active = values["ActiveState"] else { return nil }
        let pid = values["MainPID"].flatMap(Int32.init).flatMap { $0 > 0 ? $0 : nil }
        let memory = values["MemoryMax"].flatMap(UInt64.init).map(Self.formatBytes)
        let quota = values["CPUQuotaPerSecUSec"].flatMap(Self.percent)
        return ServiceState(
            activeState: active,
            subState: values["SubState"] ?? "",
            mainPID: pid,
            user: values["User"].flatMap { $0.isEmpty ? nil : $0 },
            unitFileState: values["UnitFileState"] ?? "",
            memoryMax: memory,
            cpuQuota: quota
        )
    }

    /// `cachenode.service active (running), enabled, user cachenode, MemoryMax 8G, CPUQuota 800%`.
    package var summary: String {
        var parts = ["\(Self.unit) \(activeState) (\(subState))"]
        if !unitFileState.isEmpty { parts.append(unitFileState) }
        parts.append("user \(user ?? "root")")
        parts.append("MemoryMax \(memoryMax ?? "unlimited")")
        parts.append("CPUQuota \(cpuQuota ?? "unlimited")")
        return parts.joined(separator: ", ")
    }

    static func formatBytes(_ bytes: UInt64) -> String {
        for (unit, size) in [
            ("T", UInt64(1) << 40), ("G", UInt64(1) << 30), ("M", UInt64(1) << 20), ("K", UInt64(1) << 10),
        ]
        where bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes) bytes"
    }

    /// `2s` (CPU time per second of wall time) as `200%`; `1.500000s` as `150%`; `500ms` as `50%`.
    static func percent(_ text: String) -> String? {
        if text == "infinity" { return nil }
        if text.hasSuffix("ms"), let value = Double(text.dropLast(2)) { return "\(Int((value / 10).rounded()))%" }
        if text.hasSuffix("s"), let value = Double(text.dropLast()) { return "\(Int((value * 100).rounded()))%" }
        return nil
    }
}
