/// One check of the network an install will use: pass, or a warning the operator reads and may accept.
package struct NetworkCheck: Equatable, Sendable, Codable {
    package enum Status: String, Sendable, Codable {
        case pass
        case warning
    }

    package var id: String
    package var title: String
    package var status: Status
    package var detail: String
    /// How long the check waits at most, shown beside it.
    package var timeoutSeconds: Int

    package init(id: String, title: String, status: Status, detail: String, timeoutSeconds: Int) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey {
        case id, title, status, detail
        case timeoutSeconds = "timeout_s"
    }
}
