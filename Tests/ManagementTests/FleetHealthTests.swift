import CacheNodeCore
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import Management

/// The fleet's health as the hub shows it: trouble first with reasons, issues at `/v1/issues`, and each node's page.
struct FleetHealthTests {
    static let start = FleetTests.start

    static func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    /// Five nodes, one in each state, as at 10 minutes after the start; `Failing-1` has an issue history.
    static func withFleet(_ body: (HubService) throws -> Void) throws {
        try FleetTests.withRegistry { registry in
            let tokens = try FleetTests.enrol(["Serving-1", "Degraded-1", "Failing-1", "Offline-1"], in: registry)
            _ = try registry.createNode("Pending-1", hub: "west", now: start)
            let failing = RegistryHealthTests.reason("origin_failing", .failing, since: at(300))
            let earlier = NodeIssue(
                kind: "hub_unreachable",
                severity: .degraded,
                detail: "<b>hub</b> down",
                action: "wait",
                start: at(60),
                end: at(120)
            )
            let open = NodeIssue(
                kind: "origin_failing",
                severity: .failing,
                detail: "no origin fetch succeeded",
                action: "check DNS",
                start: at(300)
            )
            for minute in 0..<10 {
                let now = at(Double(minute * 60 + 5))
                try registry.record(RegistryHealthTests.report("Serving-1"), token: tokens["Serving-1"] ?? "", now: now)
                try registry.record(
                    RegistryHealthTests.report(
                        "Degraded-1",
                        .degraded,
                        reasons: [RegistryHealthTests.reason("drive_nearly_full", .degraded, since: at(0))]
                    ),
                    token: tokens["Degraded-1"] ?? "",
                    now: now
                )
                let failingNow = minute >= 5
                try registry.record(
                    RegistryHealthTests.report(
                        "Failing-1",
                        failingNow ? .failing : .serving,
                        reasons: failingNow ? [failing] : [],
                        since: failingNow ? at(300) : start,
                        issues: minute >= 2 ? [earlier] + (failingNow ? [open] : []) : []
                    ),
                    token: tokens["Failing-1"] ?? "",
                    now: now
                )
                if minute < 2 {
                    try registry.record(
                        RegistryHealthTests.report("Offline-1"),
                        token: tokens["Offline-1"] ?? "",
                        now: now
                    )
                }
            }
            let service = HubService(registry: registry, adminToken: "admin-secret", logger: Logger(label: "test")) {
                at(600)
            }
            try body(service)
        }
    }

    static func get(_ service: HubService, _ uri: String, bearer: String? = nil, cookie: String? = nil) -> HubResponse {
        var headers = HTTPHeaders()
        if let bearer { headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let cookie { headers.add(name: "Cookie", value: cookie) }
        return service.handle(
            HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers),
            body: Data()
        )
    }

    static func text(_ response: HubResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    @Test func theFleetListsTroubleFirstEachWithItsReasons() throws {
        try Self.withFleet { service in
            let answer = Self.get(service, "/v1/fleet", bearer: "admin-secret")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            let nodes = try #require(json["nodes"] as? [[String: Any]])
            #expect(
                nodes.map { $0["name"] as? String } == [
                    "Failing-1", "Offline-1", "Degraded-1", "Pending-1", "Serving-1",
                ]
            )
            #expect(nodes.map { $0["state"] as? String } == ["failing", "offline", "degraded", "pending", "serving"])
            let reasons = nodes.map { ($0["reasons"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String } }
            #expect(reasons == [["origin_failing"], ["offline"], ["drive_nearly_full"], [], []])
            #expect(nodes[0]["state_since"] as? String == "2027-01-15T08:05:00Z")
            // Offline three intervals after its last report (08:01:05).
            #expect(nodes[1]["state_since"] as? String == "2027-01-15T08:04:05Z")
            let summary = try #require(json["summary"] as? [String: Any])
            #expect(
                summary["failing"] as? Int == 1 && summary["offline"] as? Int == 1 && summary["degraded"] as? Int == 1
            )
            #expect(
                summary["serving"] as? Int == 1 && summary["pending"] as? Int == 1 && summary["online"] as? Int == 3
            )
            #expect(summary["open_issues"] as? Int == 1)
            let issues = try #require(json["issues"] as? [[String: Any]])
            #expect(issues.map { $0["kind"] as? String } == ["origin_failing", "hub_unreachable"])

            let page = Self.text(Self.get(service, "/?token=admin-secret"))
            let order = ["Failing-1", "Offline-1", "Degraded-1", "Pending-1", "Serving-1"].map {
                page.range(of: ">\($0)</a>")?.lowerBound
            }
            #expect(order.allSatisfy { $0 != nil })
            #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted())
            #expect(
                page.contains(
                    #"<tr class="node" data-state="failing"><td><a href="/node/west/Failing-1">Failing-1</a></td>"#
                )
            )
            #expect(
                page.contains(
                    #"<div class="reason" data-kind="origin_failing">origin_failing detail<small>origin_failing action</small></div>"#
                )
            )
            #expect(page.contains("no report for 8 min (the node reports every 60 s)"))
            #expect(page.contains(#"<span class="bad">1 failing</span>"#))
            #expect(page.contains("&lt;b&gt;hub&lt;/b&gt; down"))
            #expect(!page.contains("<b>hub"))
            #expect(!page.contains("admin-secret"))
        }
    }

    @Test func issuesAreListedOpenFirstForTheAdminOnly() throws {
        try Self.withFleet { service in
            #expect(Self.get(service, "/v1/issues").status == .unauthorized)
            #expect(Self.get(service, "/v1/issues?token=admin-secret").status == .unauthorized)
            #expect(Self.get(service, "/v1/issues", bearer: "wrong").status == .unauthorized)
            let all = Self.get(service, "/v1/issues", bearer: "admin-secret")
            #expect(all.status == .ok)
            let issues = try HubJSON.decoder.decode([FleetIssue].self, from: Data(all.body))
            #expect(issues.map(\.issue.kind) == ["origin_failing", "hub_unreachable"])
            #expect(issues.map(\.issue.isOpen) == [true, false])
            #expect(issues.allSatisfy { $0.hub == "west" && $0.node == "Failing-1" })
            let json = try #require(try JSONSerialization.jsonObject(with: Data(all.body)) as? [[String: Any]])
            #expect(Set(json[1].keys) == ["hub", "node", "kind", "severity", "detail", "action", "start", "end"])
            #expect(json[1]["end"] as? String == "2027-01-15T08:02:00Z")

            let none = Self.get(service, "/v1/issues?hub=west&node=Serving-1", bearer: "admin-secret")
            #expect(Self.text(none) == "[]")
            #expect(
                Self.get(service, "/v1/issues?hub=west&node=Failing-1&limit=1", bearer: "admin-secret").body.count > 2
            )
            #expect(Self.get(service, "/v1/issues?hub=east", bearer: "admin-secret").status == .notFound)
            #expect(Self.get(service, "/v1/issues?hub=west&node=Nobody", bearer: "admin-secret").status == .notFound)
        }
    }

    @Test func eachNodeHasItsOwnPageWithItsPlotsAndIssues() throws {
        try Self.withFleet { service in
            #expect(Self.get(service, "/node/west/Failing-1").status == .unauthorized)
            #expect(Self.get(service, "/node/west/Failing-1?token=wrong").status == .unauthorized)
            #expect(Self.get(service, "/node/west/Failing-1", cookie: "cachenode_hub=wrong").status == .unauthorized)
            #expect(Self.get(service, "/node/west/Nobody?token=admin-secret").status == .notFound)

            let byQuery = Self.get(service, "/node/west/Failing-1?token=admin-secret")
            #expect(byQuery.status == .ok)
            let cookie = try #require(byQuery.headers.first { $0.0 == "Set-Cookie" }?.1)
            #expect(cookie == "cachenode_hub=admin-secret; Path=/; HttpOnly; SameSite=Strict")
            // The cookie opens the pages the links lead to; it never opens the JSON API.
            #expect(
                Self.get(service, "/node/west/Degraded-1", cookie: "theme=dark; cachenode_hub=admin-secret").status
                    == .ok
            )
            #expect(Self.get(service, "/", cookie: "cachenode_hub=admin-secret").status == .ok)
            #expect(Self.get(service, "/v1/issues", cookie: "cachenode_hub=admin-secret").status == .unauthorized)
            #expect(Self.get(service, "/", bearer: "admin-secret").headers.allSatisfy { $0.0 != "Set-Cookie" })

            let page = Self.text(byQuery)
            #expect(page.hasPrefix("<!DOCTYPE html>"))
            #expect(page.contains(#"<span id="state" data-state="failing" class="state bad">failing</span>"#))
            #expect(page.contains("origin_failing detail"))
            #expect(page.contains(#"<svg id="plot-minute""#) && page.contains(#"<svg id="plot-hour""#))
            #expect(page.contains("Failing-1 egress and bytes saved per minute over the last 24 hours"))
            #expect(page.contains(#"<tr class="issue" data-open="true">"#))
            #expect(page.contains(#"<tr class="issue" data-open="false">"#))
            #expect(page.contains("&lt;b&gt;hub&lt;/b&gt; down"))
            #expect(page.components(separatedBy: "<script>").count == 2)
            for outside in ["http://", "https://", "src=", "@import", "url("] {
                #expect(!page.contains(outside), "\(outside)")
            }
            #expect(!page.contains("admin-secret"))
            let part = Self.text(Self.get(service, "/node/west/Failing-1?part=main&token=admin-secret"))
            #expect(part.hasPrefix("<header>"))

            // Its plots come from its own rollups: a row for each of its ten minutes, one hour.
            let view = try NodeView(registry: service.registry, hub: "west", node: "failing-1", now: Self.at(600))
            #expect(view.minutes.count == 10)
            #expect(view.hours.count == 1)
            #expect(view.node.issues?.map(\.kind) == ["origin_failing", "hub_unreachable"])
        }
    }
}
