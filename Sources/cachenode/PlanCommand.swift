import ArgumentParser
import CacheNodeCore
import Foundation

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Work out the throughput a fleet needs, the profile that fits and how many nodes.",
        discussion: "Example: 35,000 devices each downloading 2 GB within 24 hours need about 6.5 Gbps."
    )

    @Option(help: "Managed devices that download the payload.")
    var devices: Int

    @Option(name: .customLong("payload-gb"), help: "Gigabytes each device downloads.")
    var payloadGB: Double

    @Option(name: .customLong("window-hours"), help: "Hours within which every device finishes.")
    var windowHours: Double

    @Option(name: .customLong("nic-gbps"), help: "NIC speed of each node in Gbps (default: the profile's).")
    var nicGbps: Double?

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let sizing = try ResourceLocator.sizingTable()
        let plan: CapacityPlan
        do {
            plan = try CapacityPlan(
                devices: devices,
                payloadGB: payloadGB,
                windowHours: windowHours,
                nicGbps: nicGbps,
                sizing: sizing
            )
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        if json {
            let report: [String: Any] = [
                "devices": plan.devices, "payload_gb": plan.payloadGB, "window_hours": plan.windowHours,
                "required_gbps": (plan.requiredGbps * 1000).rounded() / 1000, "profile": plan.profile.id,
                "nic_gbps": plan.nicGbps, "per_node_gbps": plan.perNodeGbps, "nodes": plan.nodes,
                "total_tb": plan.totalBytes / 1e12,
            ]
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(Self.render(plan), terminator: "")
    }

    static func render(_ plan: CapacityPlan) -> String {
        let f = HostCheck.format
        var out = ""
        out +=
            "Load:        \(plan.devices.formatted()) devices x \(f(plan.payloadGB)) GB within \(f(plan.windowHours)) h "
        out += "(\(f(plan.totalBytes / 1e12)) TB)\n"
        out += "Throughput:  \(String(format: "%.2f", plan.requiredGbps)) Gbps sustained"
        out += " (about \(String(format: "%.1f", plan.requiredGbps)) Gbps)\n"
        out += "Profile:     \(plan.profile.id) (\(plan.profile.title))\n"
        out += "Per node:    \(f(plan.perNodeGbps)) Gbps usable on a \(f(plan.nicGbps)) Gbps NIC\n"
        out += "Nodes:       \(plan.nodes)\n"
        if plan.nodes > 1 {
            out +=
                "Note:        one \(f(plan.nicGbps)) Gbps node cannot carry \(String(format: "%.1f", plan.requiredGbps)) Gbps; "
            out += "use \(plan.nodes) nodes or faster NICs (--nic-gbps).\n"
        }
        return out
    }
}

extension Int {
    /// `35000` → `35,000`.
    func formatted() -> String {
        let digits = String(self.magnitude)
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return (self < 0 ? "-" : "") + groups.joined(separator: ",")
    }
}
