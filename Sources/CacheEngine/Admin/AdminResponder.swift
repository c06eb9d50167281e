import CacheProtocol
import Foundation
import CacheNodeCore
import NIOCore
import NIOHTTP1
import Prometheus

/// The admin listener: `/` (the status page), `/health`, `/status` (the `EngineStatus` JSON) and `/metrics`
/// (Prometheus text).
final class AdminResponder: HTTPResponder {
    let status: @Sendable () async -> EngineStatus?
    /// The status page: the whole document, or (false) the part its script refreshes.
    let page: @Sendable (_ whole: Bool) async -> String?
    /// The Prometheus text, with the store's figures read at the time of the scrape.
    let metrics: @Sendable () async -> String?

    init(
        status: @escaping @Sendable () async -> EngineStatus?,
        page: @escaping @Sendable (_ whole: Bool) async -> String?,
        metrics: @escaping @Sendable () async -> String?
    ) {
        self.status = status
        self.page = page
        self.metrics = metrics
    }

    func respond(
        to head: HTTPRequestHead,
        client: String,
        scheme: RequestScheme,
        writer: consuming ResponseWriter
    ) async -> Bool {
        writer.suppressBody = head.method == .HEAD
        if let refusal = head.judged.refusal {
            let status = HTTPResponseStatus(statusCode: refusal.status)
            let answered = await send(writer, status, "text/plain", refusal.reason + "\n")
            return answered && !refusal.closesConnection
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/":
            // The page's script asks for its main part alone (`part=main`, wherever it stands in the query).
            let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
            let whole = !query.split(separator: "&").contains("part=main")
            guard let html = await page(whole) else {
                return await send(writer, .serviceUnavailable, "text/plain", "starting\n")
            }
            return await send(writer, .ok, "text/html; charset=utf-8", html)
        case "/health":
            // 200 while the node serves (degraded too), 503 when it fails: a load balancer or monitor acts on the code.
            guard let snapshot = await status(),
                let data = try? EngineStatus.encoder.encode(HealthAnswer(snapshot.health))
            else { return await send(writer, .serviceUnavailable, "text/plain", "starting\n") }
            let code: HTTPResponseStatus = snapshot.health.state == .failing ? .serviceUnavailable : .ok
            return await send(writer, code, "application/json", String(decoding: data, as: UTF8.self) + "\n")
        case "/status":
            guard let snapshot = await status(), let data = try? EngineStatus.encoder.encode(snapshot) else {
                return await send(writer, .serviceUnavailable, "text/plain", "starting\n")
            }
            return await send(writer, .ok, "application/json", String(decoding: data, as: UTF8.self) + "\n")
        case "/metrics":
            guard let text = await metrics() else {
                return await send(writer, .serviceUnavailable, "text/plain", "starting\n")
            }
            return await send(writer, .ok, "text/plain; version=0.0.4; charset=utf-8", text)
        default:
            return await send(writer, .notFound, "text/plain", "not found: try /, /health, /status or /metrics\n")
        }
    }

    private func send(_ writer: consuming ResponseWriter, _ status: HTTPResponseStatus, _ type: String, _ text: String)
        async -> Bool
    {
        let body = ByteBuffer(string: text)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Cache-Control", value: "no-store")
        var response = writer.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))
        do {
            try await response.write(body)
            _ = try await response.end()
            return true
        } catch {
            return false
        }
    }
}

/// The `/health` document: `{"state": ..., "reasons": [...], "since": ...}`.
struct HealthAnswer: Encodable {
    var state: HealthState
    var reasons: [HealthReason]
    var since: Date

    init(_ health: NodeHealth) {
        state = health.state
        reasons = health.reasons
        since = health.since
    }
}
