import AsyncHTTPClient
import CacheNodeCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Talks to a hub service: the node enrols and reports, an operator lists and creates.
///
/// Keys and tokens never cross a network in the clear: `http://` is for a hub on loopback only; `https://` trusts the
/// hub's certificate as `trust` says (its pinned fingerprint, a CA file, or the system's CAs).
package struct HubClient: Sendable {
    package var baseURL: String
    package var token: String?
    package var timeout: TimeAmount
    package var trust: HubTrust
    /// The hub's certificate once its fingerprint was checked, shared by copies of this client.
    private let checkedCertificate = CheckedCertificate()

    final class CheckedCertificate: Sendable {
        let value = Mutex<NIOSSLCertificate?>(nil)
    }

    package init(baseURL: String, token: String? = nil, timeout: TimeAmount = .seconds(10), trust: HubTrust = .system) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
        self.trust = trust
    }

    package enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case unreachable(String)
        case refused(status: Int, message: String)
        /// Nothing was sent: the connection would not be private, or not to the pinned hub.
        case untrusted(String)

        package var description: String {
            switch self {
            case .unreachable(let reason): "the hub service cannot be reached: \(reason)"
            case let .refused(status, message): "the hub service answered \(status): \(message)"
            case .untrusted(let reason): "nothing was sent to the hub service: \(reason)"
            }
        }
    }

    /// The URL's scheme, host and port, and whether it may carry secrets as it is.
    static func endpoint(_ url: String) throws(Failure) -> (secure: Bool, host: String, port: Int) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else { throw .untrusted("'\(url)' is not a hub URL (https://hub.example.org:7000)") }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        switch scheme {
        case "https":
            return (true, bare, components.port ?? 443)
        case "http":
            let loopback = bare == "localhost" || IPAddress(bare).map { $0.scope == .loopback } == true
            guard loopback else {
                throw .untrusted(
                    "\(url) is plain HTTP across the network, where keys and tokens would travel in the clear; use https:// "
                        + "with the fingerprint `cachenode hub info` prints on the hub (--hub-fingerprint)"
                )
            }
            return (false, bare, components.port ?? 80)
        default:
            throw .untrusted("'\(url)': the scheme must be https (or http on loopback)")
        }
    }

    /// The TLS settings for requests to the hub, after checking a pinned certificate with a handshake of its own.
    func tlsConfiguration(host: String, port: Int) async throws(Failure) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch trust {
        case .system:
            break
        case .authority(let file):
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw .untrusted("cannot read the CA file \(file): \(error)")
            }
        case .fingerprint(let fingerprint):
            // Checked once per client (the reporter keeps one for the engine's life), again after a failed request.
            var pinned: NIOSSLCertificate
            do {
                if let checked = checkedCertificate.value.withLock({ $0 }) {
                    pinned = checked
                } else {
                    pinned = try await HubCertificateProbe.pinned(
                        host: host,
                        port: port,
                        fingerprint: fingerprint,
                        timeout: timeout
                    )
                    checkedCertificate.value.withLock { $0 = pinned }
                }
            } catch let error as HubTLSError {
                throw .untrusted(error.description)
            } catch {
                throw .untrusted("\(error)")
            }
            // The pinned certificate is the only one trusted; its names do not matter (a self-signed hub's rarely
            // match every name nodes use), the key behind it does.
            configuration.trustRoots = .certificates([pinned])
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    package func hubs() async throws(Failure) -> [HubRecord] {
        try await send(.GET, "/v1/hubs", as: [HubRecord].self)
    }

    package func createHub(_ name: String) async throws(Failure) -> HubRecord {
        try await send(.POST, "/v1/hubs", body: ["name": name], as: HubRecord.self)
    }

    package func nodes(hub: String) async throws(Failure) -> [NodeRecord] {
        try await send(.GET, "/v1/hubs/\(Self.escape(hub))/nodes", as: [NodeRecord].self)
    }

    /// Adds a node; returns its one-time enrolment key.
    package func createNode(_ name: String, hub: String) async throws(Failure) -> String {
        let answer = try await send(
            .POST,
            "/v1/hubs/\(Self.escape(hub))/nodes",
            body: ["name": name],
            as: [String: String].self
        )
        return answer["enrolment_key"] ?? ""
    }

    /// Trades the one-time key for the node's report token.
    package func enrol(node: String, hub: String, key: String) async throws(Failure) -> String {
        let answer = try await send(
            .POST,
            "/v1/enrol",
            body: ["hub": hub, "node": node, "key": key],
            as: [String: String].self
        )
        return answer["token"] ?? ""
    }

    /// Removes a node from a hub (a node this setup created, when the run is rolled back).
    package func deleteNode(_ name: String, hub: String) async throws(Failure) {
        _ = try await send(
            .DELETE,
            "/v1/hubs/\(Self.escape(hub))/nodes/\(Self.escape(name))",
            as: [String: String].self
        )
    }

    /// Checks that the hub service answers over a connection trusted as `trust` says; sends no key or token.
    package func checkReachable() async throws(Failure) {
        var anonymous = self
        anonymous.token = nil
        _ = try await anonymous.send(.GET, "/health", as: [String: String].self)
    }

    package func report(_ report: NodeReport) async throws(Failure) {
        _ = try await send(.POST, "/v1/reports", body: report, as: [String: String].self)
    }

    private func send<Response: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        body: (any Encodable)? = nil,
        as type: Response.Type
    ) async throws(Failure) -> Response {
        let endpoint = try Self.endpoint(baseURL)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if endpoint.secure {
            request.tlsConfiguration = try await tlsConfiguration(host: endpoint.host, port: endpoint.port)
        }
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            let data: Data
            do { data = try HubJSON.encoder.encode(body) } catch {
                throw .unreachable("cannot encode the request: \(error)")
            }
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch {
            // The hub may have a new certificate: the next request checks the pin again.
            checkedCertificate.value.withLock { $0 = nil }
            throw .unreachable("\(error)")
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let message =
                (try? JSONDecoder().decode([String: String].self, from: data))?["error"]
                ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw .refused(status: Int(response.status.code), message: message)
        }
        do {
            return try HubJSON.decoder.decode(type, from: data)
        } catch {
            throw .refused(status: Int(response.status.code), message: "an answer that is not the expected JSON")
        }
    }

    private static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.")))
            ?? segment
    }
}
