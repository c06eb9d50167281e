import CacheProtocol
import NIOHTTP1

extension HTTPRequestHead {
    /// The head as the protocol rules judge it (method, version, `Host`, body framing).
    var judged: RequestHead {
        RequestHead(
            method: method.rawValue,
            major: version.major,
            minor: version.minor,
            headers: headers.map { ($0.name, $0.value) }
        )
    }
}
