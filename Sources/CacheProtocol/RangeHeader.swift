/// A parsed `Range: bytes=...` header (RFC 9110 section 14.2): one or more range specs.
package struct RangeHeader: Equatable, Sendable {
    /// One `first-last`, `first-` or `-suffix` spec.
    package enum Spec: Equatable, Sendable {
        case closed(Int64, Int64)
        case from(Int64)
        case suffix(Int64)
    }

    package var specs: [Spec]

    package init(specs: [Spec]) {
        self.specs = specs
    }

    /// Parses the header value; `nil` when it is malformed, which the server ignores (200 with the whole object).
    package init?(_ value: String) {
        let trimmed = value.trimmingCharacters(in: " \t")
        guard let equals = trimmed.firstIndex(of: "="),
            trimmed[..<equals].trimmingCharacters(in: " \t").lowercased() == "bytes"
        else { return nil }
        var specs: [Spec] = []
        for part in trimmed[trimmed.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: " \t")
            if item.isEmpty { continue }
            guard let dash = item.firstIndex(of: "-") else { return nil }
            let first = item[..<dash]
            let last = item[item.index(after: dash)...]
            if first.isEmpty {
                guard let suffix = Self.number(last) else { return nil }
                specs.append(.suffix(suffix))
            } else {
                guard let start = Self.number(first) else { return nil }
                if last.isEmpty {
                    specs.append(.from(start))
                } else {
                    guard let end = Self.number(last), end >= start else { return nil }
                    specs.append(.closed(start, end))
                }
            }
        }
        guard !specs.isEmpty, specs.count <= 100 else { return nil }
        self.specs = specs
    }

    /// Digits only; saturates at `Int64.max` so a huge position is unsatisfiable rather than malformed.
    private static func number(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var value: Int64 = 0
        for digit in text.utf8 {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return Int64.max }
            value = sum
        }
        return value
    }

    /// What to send for an object of `length` bytes.
    package func resolve(length: Int64) -> RangeResolution {
        let satisfiable = specs.compactMap { Self.bounds(of: $0, length: length) }.sorted {
            $0.lowerBound < $1.lowerBound
        }
        guard let first = satisfiable.first else { return .unsatisfiable }
        // Coalesce overlapping or adjacent ranges; several disjoint ones are answered with the whole object.
        var merged = first
        for range in satisfiable.dropFirst() {
            guard range.lowerBound <= merged.upperBound + 1 else { return .full }
            merged = merged.lowerBound...max(merged.upperBound, range.upperBound)
        }
        return .partial(merged)
    }

    private static func bounds(of spec: Spec, length: Int64) -> ClosedRange<Int64>? {
        switch spec {
        case .closed(let first, let last):
            guard first < length else { return nil }
            return first...min(last, length - 1)
        case .from(let first):
            guard first < length else { return nil }
            return first...(length - 1)
        case .suffix(let count):
            guard count > 0, length > 0 else { return nil }
            return max(0, length - count)...(length - 1)
        }
    }

    /// The first byte a request needs before the object's length is known, when that can be told.
    package var knownStart: Int64? {
        guard specs.count == 1 else { return nil }
        switch specs[0] {
        case .closed(let first, _), .from(let first): return first
        case .suffix: return nil
        }
    }
}

/// How a request's range applies to an object of known length.
package enum RangeResolution: Equatable, Sendable {
    /// 200 with the whole object.
    case full
    /// 206 with `Content-Range: bytes a-b/total`.
    case partial(ClosedRange<Int64>)
    /// 416 with `Content-Range: bytes */total`.
    case unsatisfiable
}
