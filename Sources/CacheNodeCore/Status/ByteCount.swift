import Foundation

/// Sizes and rates for people: decimal units, one decimal.
package enum ByteCount {
    package static func format(_ bytes: Int64) -> String {
        scaled(Double(bytes), units: ["B", "KB", "MB", "GB", "TB", "PB"], exact: bytes < 1000 ? "\(bytes) B" : nil)
    }

    /// A rate in bits per second, as network links are measured.
    package static func bitsPerSecond(_ bits: Double) -> String {
        scaled(
            bits,
            units: ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"],
            exact: bits < 1000 ? "\(Int(bits.rounded())) bit/s" : nil
        )
    }

    private static func scaled(_ amount: Double, units: [String], exact: String?) -> String {
        if let exact { return exact }
        var value = amount
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
