import Yams

/// The sizing profiles, the hard floor and the host rules, read from `Resources/sizing.yaml`.
package struct SizingTable: Equatable, Sendable {
    package struct Profile: Equatable, Sendable, Codable {
        package var id: String
        package var title: String
        package var nicGbps: Double
        /// Cache disk per node, and the smallest cache drive the profile accepts.
        package var diskGB: Double
        package var memoryGB: Double
        package var cores: Int
        /// What one node of this profile is built to deliver.
        package var throughputGbps: Double
        /// Hidden profiles (trial installs) are accepted in answer files but never offered.
        package var hidden: Bool?

        enum CodingKeys: String, CodingKey {
            case id, title, cores, hidden
            case nicGbps = "nic_gbps"
            case diskGB = "disk_gb"
            case memoryGB = "memory_gb"
            case throughputGbps = "throughput_gbps"
        }
    }

    package struct Floor: Equatable, Sendable, Codable {
        package var cores: Int
        package var memoryGB: Double
        package var nicGbps: Double

        enum CodingKeys: String, CodingKey {
            case cores
            case memoryGB = "memory_gb"
            case nicGbps = "nic_gbps"
        }
    }

    package struct SupportedOS: Equatable, Sendable, Codable {
        package var id: String
        package var minVersion: String

        enum CodingKeys: String, CodingKey {
            case id
            case minVersion = "min_version"
        }
    }

    package struct Rules: Equatable, Sendable, Codable {
        package struct OS: Equatable, Sendable, Codable {
            package var kernelMin: String
            package var supported: [SupportedOS]

            enum CodingKeys: String, CodingKey {
                case supported
                case kernelMin = "kernel_min"
            }
        }

        package var memoryTolerance: Double
        package var nicUtilisation: Double
        package var maxNICs: Int
        package var minRecommendedNICGbps: Double
        package var ssdRecommended: Bool
        package var os: OS

        enum CodingKeys: String, CodingKey {
            case os
            case memoryTolerance = "memory_tolerance"
            case nicUtilisation = "nic_utilisation"
            case maxNICs = "max_nics"
            case minRecommendedNICGbps = "min_recommended_nic_gbps"
            case ssdRecommended = "ssd_recommended"
        }
    }

    private struct Document: Codable {
        var version: Int
        var profiles: [Profile]
        var floor: Floor
        var rules: Rules
    }

    package var profiles: [Profile]
    package var floor: Floor
    package var rules: Rules

    /// Parses and checks the table; a broken resource file is a clear error at start, not a wrong verdict later.
    package init(yaml: String) throws(SizingTableError) {
        struct Versioned: Codable { var version: Int }
        let version: Int
        do {
            version = try YAMLDecoder().decode(Versioned.self, from: yaml).version
        } catch {
            throw SizingTableError(problem: "cannot read the sizing table: \(error)")
        }
        guard version == 1 else {
            throw SizingTableError(problem: "sizing table version \(version) is not supported")
        }
        let document: Document
        do {
            document = try YAMLDecoder().decode(Document.self, from: yaml)
        } catch {
            throw SizingTableError(problem: "cannot read the sizing table: \(error)")
        }
        let ids = document.profiles.map(\.id)
        guard !document.profiles.filter({ $0.hidden != true }).isEmpty else {
            throw SizingTableError(problem: "the sizing table has no profile")
        }
        guard Set(ids).count == ids.count else {
            throw SizingTableError(problem: "the sizing table names a profile twice")
        }
        for profile in document.profiles
        where profile.cores < 1 || profile.memoryGB <= 0 || profile.diskGB <= 0 || profile.nicGbps < 0 {
            throw SizingTableError(problem: "profile \(profile.id) has a value that is not positive")
        }
        guard document.floor.cores >= 1, document.floor.memoryGB > 0,
            (0..<1).contains(document.rules.memoryTolerance),
            document.rules.nicUtilisation > 0 && document.rules.nicUtilisation <= 1
        else {
            throw SizingTableError(problem: "the sizing table's floor or rules are out of range")
        }
        profiles = document.profiles
        floor = document.floor
        rules = document.rules
    }

    /// The profiles offered to people (`check`, `plan`, the wizard), smallest first.
    package var offered: [Profile] {
        profiles.filter { $0.hidden != true }.sorted { $0.throughputGbps < $1.throughputGbps }
    }

    package func profile(named id: String) -> Profile? {
        profiles.first { $0.id == id }
    }

    /// The smallest drive an answer file may give: the chosen profile's disk, else the smallest offered.
    package func minimumDriveGB(profile id: String?) -> Double {
        if let id, let profile = profile(named: id) { return profile.diskGB }
        return offered.map(\.diskGB).min() ?? 0
    }
}

package struct SizingTableError: Error, Sendable, CustomStringConvertible {
    package var problem: String
    package var description: String { problem }
}
