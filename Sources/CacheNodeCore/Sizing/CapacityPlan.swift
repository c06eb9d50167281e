/// How much a fleet needs: devices downloading a payload within a window, at a NIC speed.
package struct CapacityPlan: Equatable, Sendable {
    package var devices: Int
    package var payloadGB: Double
    package var windowHours: Double
    package var nicGbps: Double

    /// Sustained throughput the load needs, in Gbit/s (GB are 10^9 bytes).
    package var requiredGbps: Double

    /// The smallest offered profile built for this throughput, or the largest when none is.
    package var profile: SizingTable.Profile
    /// Usable throughput of one node at `nicGbps` (line rate times the planned utilisation).
    package var perNodeGbps: Double
    /// Nodes needed at `nicGbps`, at least one.
    package var nodes: Int
    /// Bytes the fleet downloads in the window.
    package var totalBytes: Double

    package init(
        devices: Int,
        payloadGB: Double,
        windowHours: Double,
        nicGbps: Double? = nil,
        sizing: SizingTable
    ) throws(CapacityPlanError) {
        guard devices > 0 else {
            throw CapacityPlanError(problem: "--devices must be a positive number, got \(devices)")
        }
        guard payloadGB > 0, payloadGB.isFinite else {
            throw CapacityPlanError(problem: "--payload-gb must be a positive number, got \(payloadGB)")
        }
        guard windowHours > 0, windowHours.isFinite else {
            throw CapacityPlanError(problem: "--window-hours must be a positive number, got \(windowHours)")
        }
        if let nicGbps, !(nicGbps > 0 && nicGbps.isFinite) {
            throw CapacityPlanError(problem: "--nic-gbps must be a positive number, got \(nicGbps)")
        }
        let offered = sizing.offered
        guard let largest = offered.last else { throw CapacityPlanError(problem: "the sizing table has no profile") }

        self.devices = devices
        self.payloadGB = payloadGB
        self.windowHours = windowHours
        totalBytes = Double(devices) * payloadGB * 1_000_000_000
        requiredGbps = totalBytes * 8 / (windowHours * 3600) / 1_000_000_000
        let required = requiredGbps
        profile = offered.first { $0.throughputGbps >= required } ?? largest
        self.nicGbps = nicGbps ?? profile.nicGbps
        perNodeGbps = self.nicGbps * sizing.rules.nicUtilisation
        nodes = max(1, Int((required / perNodeGbps).rounded(.up)))
    }
}

package struct CapacityPlanError: Error, Sendable, CustomStringConvertible {
    package var problem: String
    package var description: String { problem }
}
