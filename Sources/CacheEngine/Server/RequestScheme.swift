/// How a request arrived: on the plain HTTP listener or through the TLS listener.
package enum RequestScheme: String, CaseIterable, Sendable {
    case http
    case https
}
