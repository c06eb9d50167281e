import CacheNodeCore
import Testing

/// Allowlist entries that mark an origin fetched over HTTPS: `https://HOST[:PORT]`, wildcards included.
struct OriginPatternTests {
    @Test(
        arguments: [
            ("download.windowsupdate.com", "download.windowsupdate.com", OriginScheme.http, nil),
            ("*.manage.microsoft.com", "*.manage.microsoft.com", .http, nil),
            ("https://*.manage.microsoft.com", "*.manage.microsoft.com", .https, nil),
            ("HTTPS://Statics.Teams.CDN.Office.net.", "statics.teams.cdn.office.net", .https, nil),
            ("https://127.0.0.1:8443", "127.0.0.1", .https, 8443),
            ("https://[::1]:8443", "::1", .https, 8443),
            ("https://[::1]", "::1", .https, nil),
            ("https://::1", "::1", .https, nil),
            ("https://cdn.example.org:443", "cdn.example.org", .https, 443),
            ("https://*.example.org:8443", "*.example.org", .https, 8443),
            ("10.0.0.1", "10.0.0.1", .http, nil),
        ] as [(String, String, OriginScheme, Int?)]
    )
    func parses(text: String, host: String, scheme: OriginScheme, port: Int?) throws {
        let pattern = try OriginPattern(text)
        #expect(pattern == OriginPattern(host: host, scheme: scheme, port: port))
    }

    @Test(
        arguments: [
            ("http://cdn.example.org", "'http://cdn.example.org': http:// is not a scheme the allowlist knows"),
            ("ftp://cdn.example.org", "ftp:// is not a scheme the allowlist knows"),
            ("https://cdn.example.org/path", "only a host and a port may follow https://"),
            ("https://user@cdn.example.org", "only a host and a port may follow https://"),
            ("cdn.example.org:8080", "a port is only written on an https:// entry"),
            ("https://cdn.example.org:0", "'0' is not a port from 1 to 65535"),
            ("https://cdn.example.org:65536", "'65536' is not a port from 1 to 65535"),
            ("https://cdn.example.org:", "'' is not a port from 1 to 65535"),
            ("https://cdn.example.org:84x3", "'84x3' is not a port from 1 to 65535"),
            ("https://", "'' is not a host name, wildcard or IP address"),
            ("https://bad host", "'bad host' is not a host name, wildcard or IP address"),
            ("https://*.*.example.org", "'*.*.example.org' is not a host name"),
            ("bad host", "'bad host' is not a host name, wildcard or IP address"),
        ] as [(String, String)]
    )
    func refusesWithAReasonQuotingTheEntry(text: String, reason: String) {
        #expect(throws: OriginPatternError.self) { try OriginPattern(text) }
        do {
            _ = try OriginPattern(text)
        } catch {
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    static let allowlist = OriginAllowlist(
        patterns: ["*.download.windowsupdate.com", "https://*.manage.microsoft.com", "*.cdn.office.net"],
        extra: ["127.0.0.1", "https://127.0.0.1:8443", "https://statics.teams.cdn.office.net", "https://[::1]:9443"]
    )

    @Test(
        arguments: [
            ("au.download.windowsupdate.com", nil, OriginAllowlist.Listing.plain),
            ("swda01-mscdn.manage.microsoft.com", nil, .https(port: nil)),
            ("swda01-mscdn.manage.microsoft.com", 8443, .https(port: 8443)),
            ("manage.microsoft.com", nil, .unlisted),
            // An https:// entry wins over a plain wildcard that matches too.
            ("statics.teams.cdn.office.net", nil, .https(port: nil)),
            ("res.cdn.office.net", nil, .plain),
            // An entry's port is where the origin is fetched; another port falls to the plain entry.
            ("127.0.0.1", nil, .https(port: 8443)),
            ("127.0.0.1", 8443, .https(port: 8443)),
            ("127.0.0.1", 8080, .plain),
            ("::1", nil, .https(port: 9443)),
            ("[::1]", 9443, .https(port: 9443)),
            ("::1", 9000, .httpsElsewhere(OriginPattern(host: "::1", scheme: .https, port: 9443))),
            ("10.0.0.1", nil, .unlisted),
        ] as [(String, Int?, OriginAllowlist.Listing)]
    )
    func listsTheSchemeAndPort(host: String, port: Int?, listing: OriginAllowlist.Listing) {
        #expect(Self.allowlist.listing(host, port: port) == listing)
    }

    @Test func httpsEntriesAreAllowedAndExplicitLikePlainOnes() {
        #expect(Self.allowlist.allows("swda01.manage.microsoft.com"))
        #expect(Self.allowlist.allows("::1"))
        #expect(Self.allowlist.isExplicit("::1"))
        #expect(Self.allowlist.isExplicit("statics.teams.cdn.office.net"))
        #expect(!Self.allowlist.isExplicit("swda01.manage.microsoft.com"))
        #expect(Self.allowlist.count == 7)
    }

    @Test func theFileAndTheExtraEntriesReportEveryBadEntry() {
        let text = "good.example.org\nhttps://fine.example.org:8443\nhttp://plain.example.org\n10.0.0.1\n"
        do {
            _ = try OriginAllowlist(text: text, extra: ["https://127.0.0.1:8443", "https://x/y"])
            Issue.record("bad entries were accepted")
        } catch {
            #expect(
                error.lines == [
                    "line 3: 'http://plain.example.org': http:// is not a scheme the allowlist knows "
                        + "(https:// for an origin fetched over TLS, no scheme for plain HTTP)",
                    "line 4: '10.0.0.1' is an IP address: addresses belong in engine.extra_origins",
                    "engine.extra_origins[1]: 'https://x/y': only a host and a port may follow https://, no path or user",
                ]
            )
        }
    }

    @Test func theShippedListFetchesIntuneAndTeamsOverHTTPSAndWindowsUpdateOverHTTP() throws {
        let list = try OriginAllowlist(text: try TestResources.text("Resources/origins.txt"))
        #expect(list.listing("swda01-mscdn.manage.microsoft.com", port: nil) == .https(port: nil))
        #expect(list.listing("statics.teams.cdn.office.net", port: nil) == .https(port: nil))
        for host in ["au.download.windowsupdate.com", "dl.delivery.mp.microsoft.com", "officecdn.microsoft.com"] {
            #expect(list.listing(host, port: nil) == .plain, "\(host)")
        }
    }
    /// https:// entries in an answer file are read and written back as they were; a bad one is named by its key path
    /// and line, with the reason.
    @Test func answerFilesKeepHTTPSEntriesAndNameABadOneByKeyPath() throws {
        let entries = ["https://*.example.org", "https://127.0.0.1:8443", "https://[::1]:9443", "cdn.example.org"]
        var configuration = try AnswerFile.load(AnswerFileTests.valid, sizing: TestResources.sizing)
        configuration.engine.extraOrigins = entries
        let decoded = AnswerFile.decode(AnswerFile.emit(configuration))
        #expect(decoded.issues == [])
        #expect(decoded.configuration?.engine.extraOrigins == entries)
        let bad = AnswerFileTests.valid.replacingFirst(
            "extra_origins: []",
            with: "extra_origins: [\"https://ok.example.org\", \"https://x.example.org:99999\"]"
        )
        let issues = AnswerFileTests.issues(bad)
        #expect(
            issues.map(\.description) == [
                "engine.extra_origins[1]: 'https://x.example.org:99999': '99999' is not a port from 1 to 65535 "
                    + "(as cdn.example.org, *.example.org, 127.0.0.1 or https://cdn.example.org:8443)"
            ],
            "\(issues)"
        )
        #expect(issues.first?.line == 28, "\(issues)")
    }
}
