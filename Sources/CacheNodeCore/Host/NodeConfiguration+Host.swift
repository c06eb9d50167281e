extension NodeConfiguration {
    /// The address clients reach the node at, when the configuration fixes one: the static address, else a listen
    /// address that is not a wildcard. The host check judges the adapter that carries it.
    package var servingAddress: IPAddress? {
        if network.address.mode == .static, let ip = network.address.ip, let address = IPInterface(ip)?.address {
            return address
        }
        return ListenAddress(engine.listen)?.address.flatMap { $0.scope == .unspecified ? nil : $0 }
    }

    /// What this machine cannot give the node: more cores or memory than it has, drives larger than the free space.
    /// `freeBytesByDrive` holds the free space measured at each drive path (nil where unknown).
    package func hostProblems(facts: HostFacts, freeBytesByDrive: [Int64?], sizing: SizingTable) -> [ConfigurationIssue]
    {
        var issues: [ConfigurationIssue] = []
        if let cores = facts.cores, resources.cores > cores {
            issues.append(
                .init(
                    "resources.cores",
                    "\(resources.cores) is more than the \(cores) cores of this machine",
                    hint: "at most \(cores)"
                )
            )
        }
        if let memory = facts.memoryBytes {
            // Never more than the machine reports (the table's tolerance is for judging a profile's requirement).
            let whole = Int((Double(memory) / 1_000_000_000).rounded(.down))
            if resources.memoryGB > whole {
                issues.append(
                    .init(
                        "resources.memory_gb",
                        "\(resources.memoryGB) GB is more than the memory of this machine",
                        hint: "at most \(whole)"
                    )
                )
            }
        }
        for (index, drive) in storage.drives.enumerated() where index < freeBytesByDrive.count {
            guard let free = freeBytesByDrive[index] else { continue }
            if drive.sizeBytes > free {
                let freeGB = Double(free) / 1_000_000_000
                issues.append(
                    .init(
                        "storage.drives[\(index)].size_gb",
                        "\(HostCheck.format(drive.sizeGB)) GB is more than the \(HostCheck.format(freeGB)) GB free at \(drive.path)",
                        hint: "at most \(Int(freeGB.rounded(.down)))"
                    )
                )
            }
        }
        return issues
    }
}
