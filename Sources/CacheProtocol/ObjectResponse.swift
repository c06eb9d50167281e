/// The answer to a GET or HEAD of a known object: 304, 416, 206 or 200, its header fields, and the object's bytes
/// its body carries.
package struct ObjectResponse: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    /// The object's bytes the body carries; `nil` when it carries none (304, 416, an empty object).
    package var span: ClosedRange<Int64>?

    /// Applies the client's conditionals, then its `Range` (several disjoint ranges get the whole object). The
    /// origin's fields go with every status, and `Age` as of `now` (seconds since 1970) when given.
    package init(object: OriginObject, range: String?, conditional: ConditionalRequest, now: Int64? = nil) {
        var headers: [(name: String, value: String)] = []
        if let now { headers.append(("Age", "\(object.freshness.age(at: now))")) }
        if let etag = object.etag { headers.append(("ETag", etag)) }
        if let modified = object.lastModified { headers.append(("Last-Modified", modified)) }
        let honourRange: Bool
        switch conditional.evaluate(Validators(etag: object.etag, lastModified: object.lastModified)) {
        case .notModified:
            // RFC 9110 15.4.5: the fields a 200 would have carried, but not the representation's own.
            for field in object.headers where !field.name.lowercased().hasPrefix("content-") {
                headers.append((field.name, field.value))
            }
            self.init(status: 304, headers: headers, span: nil)
            return
        case .serve(let honour):
            honourRange = honour
        }
        for field in object.headers { headers.append((field.name, field.value)) }
        headers.append(("Content-Type", object.contentType ?? "application/octet-stream"))
        headers.append(("Accept-Ranges", "bytes"))
        let resolution = honourRange ? range.flatMap(RangeHeader.init)?.resolve(length: object.length) ?? .full : .full
        switch resolution {
        case .unsatisfiable:
            headers.append(("Content-Range", "bytes */\(object.length)"))
            self.init(status: 416, headers: headers, span: nil)
            return
        case .full:
            let span = object.length > 0 ? 0...(object.length - 1) : nil
            headers.append(("Content-Length", "\(object.length)"))
            self.init(status: 200, headers: headers, span: span)
        case .partial(let range):
            headers.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(object.length)"))
            headers.append(("Content-Length", "\(range.upperBound - range.lowerBound + 1)"))
            self.init(status: 206, headers: headers, span: range)
        }
    }

    package init(status: Int, headers: [(name: String, value: String)], span: ClosedRange<Int64>?) {
        self.status = status
        self.headers = headers
        self.span = span
    }
}
