/// The validators the cache holds for an object, passed through from the origin.
package struct Validators: Equatable, Sendable {
    package var etag: String?
    package var lastModified: String?

    package init(etag: String?, lastModified: String?) {
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// Decides `If-None-Match`, `If-Modified-Since` and `If-Range` against stored validators (RFC 9110 section 13).
package struct ConditionalRequest: Equatable, Sendable {
    package var ifNoneMatch: String?
    package var ifModifiedSince: String?
    package var ifRange: String?

    package init(ifNoneMatch: String? = nil, ifModifiedSince: String? = nil, ifRange: String? = nil) {
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifRange = ifRange
    }

    /// What the server does next.
    package enum Outcome: Equatable, Sendable {
        /// 304 Not Modified.
        case notModified
        /// Serve; `honourRange` is false when `If-Range` does not match (send the whole object).
        case serve(honourRange: Bool)
    }

    package func evaluate(_ validators: Validators) -> Outcome {
        if let ifNoneMatch {
            if Self.matchesAny(ifNoneMatch, etag: validators.etag, weak: true) { return .notModified }
        } else if let since = ifModifiedSince.flatMap(HTTPDate.parse),
            let modified = validators.lastModified.flatMap(HTTPDate.parse), modified <= since
        {
            return .notModified
        }
        guard let ifRange else { return .serve(honourRange: true) }
        let value = ifRange.trimmingCharacters(in: " \t")
        if value.hasPrefix("\"") || value.hasPrefix("W/") {
            guard let etag = validators.etag, !value.hasPrefix("W/"), !etag.hasPrefix("W/") else {
                return .serve(honourRange: false)
            }
            return .serve(honourRange: value == etag)
        }
        guard let date = HTTPDate.parse(value), let modified = validators.lastModified.flatMap(HTTPDate.parse) else {
            return .serve(honourRange: false)
        }
        return .serve(honourRange: date == modified)
    }

    /// `*` or a list of entity tags, compared weakly (`W/"x"` matches `"x"`).
    private static func matchesAny(_ list: String, etag: String?, weak: Bool) -> Bool {
        let trimmed = list.trimmingCharacters(in: " \t")
        if trimmed == "*" { return etag != nil }
        guard let etag else { return false }
        let mine = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        return trimmed.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: " \t")
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            return tag == mine
        }
    }
}

/// HTTP dates (IMF-fixdate, RFC 850 and asctime forms) as seconds since 1970.
package enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since the epoch, or `nil` for text that is not an HTTP date.
    package static func parse(_ text: String) -> Int64? {
        let words = text.replacingAll(",", with: " ").split(whereSeparator: { $0 == " " || $0 == "-" })
            .map { $0.lowercased() }
        // IMF-fixdate: wkday dd mon yyyy hh:mm:ss GMT; RFC 850: weekday dd-mon-yy hh:mm:ss GMT;
        // asctime: wkday mon d hh:mm:ss yyyy.
        var day: Int?
        var month: Int?
        var year: Int?
        var time: [Int]?
        for word in words.dropFirst() {
            if let index = months.firstIndex(of: word) {
                month = index + 1
            } else if word.contains(":") {
                let parts = word.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 3 else { return nil }
                time = parts
            } else if let number = Int(word) {
                if day == nil && word.count <= 2 {
                    day = number
                } else {
                    year = word.count == 2 ? (number < 70 ? 2000 + number : 1900 + number) : number
                }
            } else if word != "gmt" {
                return nil
            }
        }
        // Years outside 1...9999 are no HTTP date (and would overflow the day count).
        guard let day, let month, let year, let time, (1...31).contains(day), (1...9999).contains(year),
            (0..<24).contains(time[0]), (0..<60).contains(time[1]), (0..<61).contains(time[2])
        else { return nil }
        return days(year: year, month: month, day: day) * 86_400 + Int64(time[0] * 3600 + time[1] * 60 + time[2])
    }

    /// Formats seconds since the epoch as an IMF-fixdate.
    package static func format(_ seconds: Int64) -> String {
        let dayCount = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondsOfDay = seconds - dayCount * 86_400
        let (year, month, day) = civil(fromDays: dayCount)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(((dayCount % 7) + 7) % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1].capitalized) \(year) "
            + "\(two(secondsOfDay / 3600)):\(two(secondsOfDay / 60 % 60)):\(two(secondsOfDay % 60)) GMT"
    }

    /// Days from 1970-01-01 (Howard Hinnant's algorithm).
    private static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension String {
    fileprivate var capitalized: String { prefix(1).uppercased() + dropFirst() }
}
