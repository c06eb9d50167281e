import CacheNodeCore
import Foundation
import Testing

@testable import Management

/// The node's HTTPS certificate (subject, names, expiry) travels in its report, is kept by the hub like the rest of
/// the report, and shows on the fleet page, the node's page and in the fleet's JSON.
struct CertificateReportTests {
    static let now = FleetTests.start

    static let https = HTTPSStatus(
        listen: "0.0.0.0:443",
        requiredNames: ["cache.contoso.org"],
        certificate: CertificateStatus(
            subject: "CN=cache.contoso.org",
            issuer: "CN=Contoso Issuing CA, O=Contoso",
            names: ["cache.contoso.org", "10.0.0.50"],
            notBefore: now.addingTimeInterval(-10 * 86_400),
            notAfter: now.addingTimeInterval(20 * 86_400 + 3_600),
            fingerprint: "SHA256:" + Array(repeating: "AB", count: 32).joined(separator: ":")
        ),
        loadedAt: now.addingTimeInterval(-60)
    )

    static func report(https: HTTPSStatus?) -> NodeReport {
        var report = FleetTests.report("Seattle-1", cache: 900, origin: 100, uptime: 60)
        report.https = https
        return report
    }

    @Test func theReportCarriesTheCertificateFromStatus() throws {
        var status = NodeReportTests.status()
        status.https = Self.https
        let report = NodeReport(node: "Seattle-1", version: "x", status: status, intervalSeconds: 60)
        #expect(report.https == Self.https)
        let wire = try HubJSON.encoder.encode(report)
        let text = String(decoding: wire, as: UTF8.self)
        #expect(text.contains(#""subject":"CN=cache.contoso.org""#), "\(text)")
        #expect(text.contains(#""not_after":"2027-02-04T09:00:00Z""#), "\(text)")
        #expect(try HubJSON.decoder.decode(NodeReport.self, from: wire).https == Self.https)
    }

    @Test func aReportWithoutHTTPSHasNoHTTPSKeyAndOlderReportsRead() throws {
        let text = String(decoding: try HubJSON.encoder.encode(Self.report(https: nil)), as: UTF8.self)
        #expect(!text.contains("https"))
        #expect(try HubJSON.decoder.decode(NodeReport.self, from: Data(text.utf8)).https == nil)
    }

    @Test func theHubKeepsTheCertificateAndTheFleetShowsIt() throws {
        try FleetTests.withRegistry { registry in
            let tokens = try FleetTests.enrol(["Seattle-1", "Tacoma-2"], in: registry)
            // Seattle-1's certificate expires in 20 days: the engine reports the node degraded with that reason.
            var seattle = Self.report(https: Self.https)
            let expiring = CertificateRules.reasons(Self.https, now: Self.now)
            seattle.health = NodeHealth(state: .degraded, reasons: expiring, since: Self.now)
            try registry.record(seattle, token: tokens["Seattle-1"] ?? "", now: Self.now)
            var tacoma = FleetTests.report("Tacoma-2", cache: 1, origin: 1, uptime: 60)
            tacoma.https = HTTPSStatus(listen: "0.0.0.0:443", requiredNames: ["10.0.0.60"], certificate: nil)
            try registry.record(tacoma, token: tokens["Tacoma-2"] ?? "", now: Self.now)

            let nodes = try registry.nodes()
            #expect(nodes.first { $0.name == "Seattle-1" }?.lastReport?.https == Self.https)
            let view = try FleetView(registry: registry, now: Self.now.addingTimeInterval(30))
            #expect(view.nodes.first { $0.name == "Seattle-1" }?.https == Self.https)
            let json = String(decoding: try HubJSON.encoder.encode(view), as: UTF8.self)
            #expect(json.contains(#""names":["cache.contoso.org","10.0.0.50"]"#), "\(json)")

            let page = FleetPage(view: view).main()
            #expect(page.contains("<th>HTTPS certificate</th>"))
            #expect(
                page.contains(
                    #"<span class="certificate" data-not-after="2027-02-04T09:00:00Z">CN=cache.contoso.org</span>"#
                        + #"<div class="reason">cache.contoso.org, 10.0.0.50<small class="warn">expires 2027-02-04 "#
                        + "(in 20 days)</small></div>"
                ),
                "\(page)"
            )
            #expect(page.contains(#"<span class="warn">none</span><div class="reason">none installed yet</div>"#))
            #expect(expiring.map(\.kind) == ["certificate_expiring"])
            #expect(
                page.contains(
                    #"<div class="reason" data-kind="certificate_expiring">the HTTPS certificate "#
                        + "(CN=cache.contoso.org) expires on 2027-02-04, in 20 days<small>renew it and run cachenode "
                        + "cert install CERT, or let the ACME client&#39;s deploy hook do so</small></div>"
                ),
                "\(page)"
            )

            let node = NodePage(
                view: try NodeView(registry: registry, hub: "west", node: "Seattle-1", now: Self.now)
            ).main()
            #expect(
                node.contains(
                    #"<p id="certificate" data-value="2027-02-04T09:00:00Z">expires 2027-02-04 (in 20 days)</p>"#
                        + "<small>CN=cache.contoso.org; names cache.contoso.org, 10.0.0.50</small>"
                ),
                "\(node)"
            )
        }
    }

    @Test func theSummaryGivesSubjectNamesAndExpiry() {
        #expect(
            Self.https.summary(now: Self.now)
                == "CN=cache.contoso.org; names cache.contoso.org, 10.0.0.50; expires 2027-02-04 (in 20 days)"
        )
        var expired = Self.https
        expired.certificate?.notAfter = Self.now.addingTimeInterval(-1)
        #expect(expired.summary(now: Self.now).hasSuffix("expires 2027-01-15 (expired)"))
        let missing = HTTPSStatus(listen: "0.0.0.0:443", requiredNames: [], certificate: nil, problem: "no key")
        #expect(missing.summary(now: Self.now) == "no certificate (no key)")
    }
}
