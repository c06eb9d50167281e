import AsyncHTTPClient
import CacheNodeCore
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// What a webhook receives when a node changes state: the change, and a line of text for chat tools.
package struct HubAlert: Equatable, Sendable, Codable {
    package var hub: String
    package var node: String
    package var state: NodeState
    package var previous: NodeState
    package var reasons: [HealthReason]
    package var at: Date
    /// `alert` for a change for the worse, `recovery` for one for the better.
    package var event: String
    /// One line, as `node Seattle-1 of hub west is failing (was serving): ...`.
    package var text: String

    package init(_ transition: HealthTransition) {
        hub = transition.hub
        node = transition.node
        state = transition.state
        previous = transition.previous
        reasons = transition.reasons
        at = transition.at
        event = transition.isRecovery ? "recovery" : "alert"
        let why = transition.reasons.isEmpty ? "" : ": " + transition.reasons.map(\.detail).joined(separator: "; ")
        text =
            transition.isRecovery && transition.state == .serving
            ? "CacheNode: node \(transition.node) of hub \(transition.hub) recovered: serving (was \(transition.previous.rawValue))"
            : "CacheNode: node \(transition.node) of hub \(transition.hub) is \(transition.state.rawValue) "
                + "(was \(transition.previous.rawValue))\(why)"
    }
}

/// When to try a delivery again: after 1 s, then twice as long each time up to `maximumDelay`, `attempts` tries in
/// all. A value without a clock: the dispatcher sleeps.
package struct RetryPolicy: Equatable, Sendable {
    package var attempts: Int
    package var firstDelay: Duration
    package var maximumDelay: Duration

    package init(attempts: Int = 8, firstDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(120)) {
        self.attempts = attempts
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
    }

    /// The wait after failed try `attempt` (1 for the first), or `nil` when that was the last.
    package func delay(afterAttempt attempt: Int) -> Duration? {
        guard attempt < attempts else { return nil }
        let factor = 1 << min(max(0, attempt - 1), 30)
        return min(firstDelay * factor, maximumDelay)
    }
}

/// Why an alert webhook cannot be used; each says what to do.
package enum AlertError: Error, Equatable, Sendable, CustomStringConvertible {
    case badURL(String)
    case secretUnreadable(path: String, problem: String)

    package var description: String {
        switch self {
        case .badURL(let url):
            "--alert-webhook: '\(url)' is not an http:// or https:// address (https://chat.example.org/hooks/...)"
        case let .secretUnreadable(path, problem): "--alert-webhook-secret-file: cannot read \(path): \(problem)"
        }
    }
}

/// Sends alerts to webhooks: a queue and a task per webhook, so a slow or failing receiver delays only its own
/// alerts and never a report. Each alert is a JSON POST, signed when there is a secret
/// (`X-CacheNode-Signature: sha256=<HMAC-SHA256 of the body, hex>`), and retried with backoff until it gets a 2xx.
package final class AlertDispatcher: Sendable {
    package static let signatureHeader = "X-CacheNode-Signature"

    /// Alerts waiting per webhook; the oldest go when a receiver is down for long.
    package static let queueLimit = 1_000

    private let webhooks: [Webhook]
    private let key: SymmetricKey?
    private let retry: RetryPolicy
    private let timeout: TimeAmount
    private let logger: Logger

    private struct Webhook: Sendable {
        var url: String
        /// Scheme, host and port only: a webhook's path often holds a secret of the receiver's.
        var label: String
        var queue: AsyncStream<HubAlert>
        var continuation: AsyncStream<HubAlert>.Continuation
    }

    /// `secret` signs every alert; `retry` and `timeout` are per delivery.
    package init(
        urls: [String],
        secret: [UInt8]?,
        retry: RetryPolicy = RetryPolicy(),
        timeout: TimeAmount = .seconds(10),
        logger: Logger
    ) throws(AlertError) {
        webhooks = try urls.map { url throws(AlertError) in
            let label = try Self.label(url)
            let (queue, continuation) = AsyncStream.makeStream(
                of: HubAlert.self,
                bufferingPolicy: .bufferingNewest(Self.queueLimit)
            )
            return Webhook(url: url, label: label, queue: queue, continuation: continuation)
        }
        key = secret.map { SymmetricKey(data: $0) }
        self.retry = retry
        self.timeout = timeout
        self.logger = logger
    }

    /// Where the alerts go, as scheme, host and port (a webhook's path may hold a secret).
    package var destinations: [String] { webhooks.map(\.label) }

    /// Whether alerts are signed.
    package var isSigned: Bool { key != nil }

    /// The secret in a file of its own, without a final line break.
    package static func secret(file path: String) throws(AlertError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .secretUnreadable(path: path, problem: "no such file, or not readable")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .secretUnreadable(path: path, problem: "the file is empty") }
        return Array(text.utf8)
    }

    /// An address's scheme, host and port, after checking it is one alerts can go to.
    static func label(_ url: String) throws(AlertError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { throw .badURL(url) }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// Queues the change for every webhook; returns at once.
    package func send(_ transition: HealthTransition) {
        let alert = HubAlert(transition)
        for webhook in webhooks { webhook.continuation.yield(alert) }
    }

    /// Delivers queued alerts until cancelled (a queue's iteration ends with its task).
    package func run() async {
        await withDiscardingTaskGroup { group in
            for webhook in webhooks {
                group.addTask { await self.deliver(webhook) }
            }
        }
    }

    private func deliver(_ webhook: Webhook) async {
        for await alert in webhook.queue {
            guard let body = try? HubJSON.encoder.encode(alert) else { continue }
            var attempt = 1
            while !Task.isCancelled {
                let outcome = await post(body, to: webhook.url)
                let metadata: Logger.Metadata = [
                    "webhook": "\(webhook.label)", "hub": "\(alert.hub)", "node": "\(alert.node)",
                    "state": "\(alert.state.rawValue)", "attempt": "\(attempt)",
                ]
                guard let problem = outcome else {
                    logger.info("alert delivered", metadata: metadata)
                    break
                }
                guard let delay = retry.delay(afterAttempt: attempt) else {
                    logger.error(
                        "alert dropped after its last try",
                        metadata: metadata.merging(["error": "\(problem)"]) { $1 }
                    )
                    break
                }
                logger.warning(
                    "alert delivery failed; trying again",
                    metadata: metadata.merging(["error": "\(problem)"]) { $1 }
                )
                do { try await Task.sleep(for: delay) } catch { return }
                attempt += 1
            }
        }
    }

    /// The body's signature header value: `sha256=` and the HMAC-SHA256 in lower-case hex.
    package static func signature(_ body: some DataProtocol, secret: [UInt8]) -> String {
        signature(body, key: SymmetricKey(data: secret))
    }

    static func signature(_ body: some DataProtocol, key: SymmetricKey) -> String {
        "sha256="
            + HMAC<SHA256>.authenticationCode(for: body, using: key).map { byte in
                let digits = Array("0123456789abcdef")
                return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
            }.joined()
    }

    /// One try; `nil` when the receiver took it (2xx), otherwise what went wrong.
    private func post(_ body: Data, to url: String) async -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "CacheNode-hub")
        if let key { request.headers.add(name: Self.signatureHeader, value: Self.signature(body, key: key)) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(Int(response.status.code))
                ? nil : "the receiver answered \(response.status.code)"
        } catch {
            return "\(error)"
        }
    }
}
