import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to a hub service: the node enrols and reports, an operator lists and creates.
package struct HubClient: Sendable {
    package var baseURL: String
    package var token: String?
    package var timeout: TimeAmount

    package init(baseURL: String, token: String? = nil, timeout: TimeAmount = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
    }

    package enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case unreachable(String)
        case refused(status: Int, message: String)

        package var description: String {
            switch self {
            case .unreachable(let reason): "the hub service cannot be reached: \(reason)"
            case let .refused(status, message): "the hub service answered \(status): \(message)"
            }
        }
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
        let answer = try await send(.POST, "/v1/hubs/\(Self.escape(hub))/nodes", body: ["name": name], as: [String: String].self)
        return answer["enrolment_key"] ?? ""
    }

    /// Trades the one-time key for the node's report token.
    package func enrol(node: String, hub: String, key: String) async throws(Failure) -> String {
        let answer = try await send(.POST, "/v1/enrol", body: ["hub": hub, "node": node, "key": key], as: [String: String].self)
        return answer["token"] ?? ""
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
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            let data: Data
            do { data = try HubJSON.encoder.encode(body) } catch { throw .unreachable("cannot encode the request: \(error)") }
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch {
            throw .unreachable("\(error)")
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = (try? JSONDecoder().decode([String: String].self, from: data))?["error"]
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
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? segment
    }
}
