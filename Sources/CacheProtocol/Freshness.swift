/// One response header field, as kept with a stored object.
package struct HeaderField: Equatable, Sendable {
    package var name: String
    package var value: String

    package init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The `Cache-Control` directives a shared cache acts on (RFC 9111 5.2.2), from `CDN-Cache-Control` (RFC 9213) when
/// the origin sent one with a directive in it, else from `Cache-Control`.
package struct CacheDirectives: Equatable, Sendable {
    package var noStore = false
    package var noCache = false
    package var isPrivate = false
    /// `must-revalidate` or `proxy-revalidate`: never served stale, not even when the origin cannot be reached.
    package var mustRevalidate = false
    package var maxAge: Int64?
    package var sharedMaxAge: Int64?
    /// A freshness directive with a value that is not delta-seconds: the response counts as stale (RFC 9111 4.2.1).
    package var invalidLifetime = false

    package init() {}

    /// The directives of the field lines named `name` (lowercase); `nil` when there is none with a directive in it.
    package init?(_ headers: [(name: String, value: String)], field name: String) {
        var found = false
        for header in headers where header.name.lowercased() == name {
            for directive in Self.directives(header.value) {
                found = true
                apply(directive.name, directive.value)
            }
        }
        guard found else { return nil }
    }

    /// The directives the engine acts on for a response: `CDN-Cache-Control` first, then `Cache-Control`.
    package static func of(_ headers: [(name: String, value: String)]) -> CacheDirectives {
        CacheDirectives(headers, field: "cdn-cache-control") ?? CacheDirectives(headers, field: "cache-control")
            ?? CacheDirectives()
    }

    private mutating func apply(_ name: String, _ value: String?) {
        switch name {
        case "no-store": noStore = true
        case "no-cache": noCache = true
        case "private": isPrivate = true
        case "must-revalidate", "proxy-revalidate": mustRevalidate = true
        // The same freshness directive twice is invalid (RFC 9111 4.2.1): the response counts as stale.
        case "max-age":
            if maxAge != nil { invalidLifetime = true }
            maxAge = seconds(value)
        case "s-maxage":
            if sharedMaxAge != nil { invalidLifetime = true }
            sharedMaxAge = seconds(value)
            // RFC 9111 5.2.2.10: s-maxage also means proxy-revalidate for a shared cache.
            mustRevalidate = true
        default: break
        }
    }

    private mutating func seconds(_ value: String?) -> Int64? {
        guard let value, !value.isEmpty, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            invalidLifetime = true
            return 0
        }
        // RFC 9111 1.2.2: a value too large is taken as 2^31.
        return value.count > 10 ? 2_147_483_648 : min(Int64(value) ?? 2_147_483_648, 2_147_483_648)
    }

    /// `name[=value]` list elements, names lowercased, quoted values unquoted; commas inside quotes do not split.
    static func directives(_ text: String) -> [(name: String, value: String?)] {
        var result: [(name: String, value: String?)] = []
        var current = ""
        var quoted = false
        var escaped = false
        func flush() {
            let element = current.trimmingCharacters(in: " \t")
            current = ""
            guard !element.isEmpty else { return }
            if let equals = element.firstIndex(of: "=") {
                let name = element[..<equals].trimmingCharacters(in: " \t").lowercased()
                var value = element[element.index(after: equals)...].trimmingCharacters(in: " \t")
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                    value = String(value.dropFirst().dropLast())
                }
                result.append((name, value))
            } else {
                result.append((element.lowercased(), nil))
            }
        }
        for character in text {
            if escaped {
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == "," && !quoted {
                flush()
                continue
            }
            current.append(character)
        }
        flush()
        return result
    }
}

/// How long a stored response is fresh, and its age (RFC 9111 4.2), in whole seconds since 1970.
package struct Freshness: Equatable, Sendable {
    /// When the response was received.
    package var responseTime: Int64
    /// Its age when received (`corrected_initial_age`).
    package var initialAge: Int64
    /// How long it is fresh from its generation (`freshness_lifetime`).
    package var lifetime: Int64
    /// `no-cache`: revalidated before every use.
    package var alwaysRevalidate: Bool
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served stale.
    package var mustRevalidate: Bool

    package init(responseTime: Int64, initialAge: Int64, lifetime: Int64, alwaysRevalidate: Bool, mustRevalidate: Bool)
    {
        self.responseTime = responseTime
        self.initialAge = initialAge
        self.lifetime = lifetime
        self.alwaysRevalidate = alwaysRevalidate
        self.mustRevalidate = mustRevalidate
    }

    /// A heuristic lifetime is a tenth of the time since `Last-Modified` (RFC 9111 4.2.2), at most a day.
    package static let heuristicLimit: Int64 = 86_400

    /// Statuses a cache may give a heuristic lifetime (RFC 9110 15.1).
    static let heuristicallyCacheable: Set<Int> = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]

    /// The freshness of a response received at `responseTime` for a request sent at `requestTime`; `headers` hold
    /// its `Date` (added at receipt when the origin sent none), `Age`, `Expires` and cache directives.
    package init(
        status: Int,
        headers: [(name: String, value: String)],
        lastModified: String?,
        requestTime: Int64,
        responseTime: Int64
    ) {
        func field(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        let directives = CacheDirectives.of(headers)
        let date = field("date").flatMap(HTTPDate.parse) ?? responseTime
        let apparentAge = max(0, responseTime - date)
        // RFC 9111 1.2.2: an Age too large is taken as 2^31 (and cannot overflow the sums below).
        let ageValue =
            field("age").flatMap { Int64($0.trimmingCharacters(in: " \t")) }.map { min(max(0, $0), 2_147_483_648) }
            ?? 0
        let correctedAge = ageValue + max(0, responseTime - requestTime)
        let lifetime: Int64
        if directives.invalidLifetime {
            lifetime = 0
        } else if let shared = directives.sharedMaxAge {
            lifetime = shared
        } else if let maxAge = directives.maxAge {
            lifetime = maxAge
        } else if let expires = field("expires") {
            // An invalid date, `0` in particular, means already expired (RFC 9111 5.3).
            lifetime = HTTPDate.parse(expires).map { max(0, $0 - date) } ?? 0
        } else if Self.heuristicallyCacheable.contains(status),
            let modified = lastModified.flatMap(HTTPDate.parse)
        {
            lifetime = min(Self.heuristicLimit, max(0, date - modified) / 10)
        } else {
            lifetime = 0
        }
        self.init(
            responseTime: responseTime,
            initialAge: max(apparentAge, correctedAge),
            lifetime: lifetime,
            alwaysRevalidate: directives.noCache,
            mustRevalidate: directives.mustRevalidate
        )
    }

    /// The response's age at `now` (`current_age`).
    package func age(at now: Int64) -> Int64 {
        initialAge + max(0, now - responseTime)
    }

    /// Whether it may be used without asking the origin.
    package func isFresh(at now: Int64) -> Bool {
        !alwaysRevalidate && lifetime > age(at: now)
    }

    /// Whether it may still be used, stale, while the origin cannot be reached: for at most `limit` seconds past
    /// its lifetime, never when the origin forbade it.
    package func mayServeStale(at now: Int64, limit: Int64) -> Bool {
        limit > 0 && !alwaysRevalidate && !mustRevalidate && age(at: now) - lifetime <= limit
    }
}

/// Which fields of an origin's response go with an object and its relayed answers.
package enum ResponseFields {
    /// Fields stored with an object at most, and their bytes at most: the rest are not kept.
    package static let maximumCount = 48
    package static let maximumBytes = 8 * 1024

    /// Hop-by-hop fields (RFC 9110 7.6.1) and those only a proxy uses: never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "proxy-authentication-info",
    ]

    /// Fields the engine writes itself for every answer from the cache, or keeps apart.
    static let own: Set<String> = [
        "content-length", "content-range", "accept-ranges", "age", "etag", "last-modified", "content-type",
    ]

    /// The end-to-end fields of `headers` to keep with a stored object: no hop-by-hop field (nor one `Connection`
    /// names), no `Set-Cookie`, none the engine writes itself; bounded in count and bytes.
    package static func stored(_ headers: [(name: String, value: String)]) -> [HeaderField] {
        var kept: [HeaderField] = []
        var bytes = 0
        for field in endToEnd(headers) {
            let name = field.name.lowercased()
            guard !own.contains(name), name != "set-cookie", name != "set-cookie2" else { continue }
            let size = field.name.utf8.count + field.value.utf8.count + 4
            guard kept.count < maximumCount, bytes + size <= maximumBytes else { continue }
            bytes += size
            kept.append(HeaderField(field.name, field.value))
        }
        return kept
    }

    /// The end-to-end fields of a response relayed as it is (not stored): everything but hop-by-hop fields and the
    /// message's framing (`Content-Length`), which the engine writes for the body it sends.
    package static func relayed(_ headers: [(name: String, value: String)]) -> [HeaderField] {
        endToEnd(headers).filter { $0.name.lowercased() != "content-length" }.map { HeaderField($0.name, $0.value) }
    }

    /// `stored` with the fields of a 304 put in place of those of the same names (RFC 9111 3.2).
    package static func updated(_ stored: [HeaderField], with notModified: [(name: String, value: String)])
        -> [HeaderField]
    {
        let fresh = Self.stored(notModified)
        let names = Set(fresh.map { $0.name.lowercased() })
        return Array((stored.filter { !names.contains($0.name.lowercased()) } + fresh).prefix(maximumCount))
    }

    private static func endToEnd(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        let named = Set(
            headers.filter { $0.name.lowercased() == "connection" }.flatMap {
                $0.value.split(separator: ",").map { $0.trimmingCharacters(in: " \t").lowercased() }
            }
        )
        return headers.filter {
            let name = $0.name.lowercased()
            return !hopByHop.contains(name) && !named.contains(name)
        }
    }
}
