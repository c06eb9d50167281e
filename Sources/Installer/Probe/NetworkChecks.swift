#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore
import Foundation
import Synchronization

/// Checks the address, gateway, DNS servers, upstream proxy and listen port of a configuration before anything
/// changes: an ARP probe for the address (RFC 5227) and the gateway, DNS queries for the Delivery Optimization hosts
/// to each configured server, a request through the proxy. Each check gives up after its timeout.
package struct NetworkChecker: Sendable {
    /// Hosts Windows devices download from; each DNS server must resolve them.
    package static let deliveryHosts = [
        "au.download.windowsupdate.com", "dl.delivery.mp.microsoft.com", "tlu.dl.delivery.mp.microsoft.com",
    ]

    package var timeoutSeconds: Int
    /// The DNS port; tests point it at a server of their own.
    package var dnsPort: UInt16

    package init(timeoutSeconds: Int = 2, dnsPort: UInt16 = 53) {
        self.timeoutSeconds = timeoutSeconds
        self.dnsPort = dnsPort
    }

    /// Every check that applies to `configuration`; `interface` is where ARP probes go (the switch if it exists, else
    /// the adapter it takes over, else the interface with the default route).
    package func run(_ configuration: NodeConfiguration, facts: HostFacts, proxyPassword: String? = nil)
        -> [NetworkCheck]
    {
        var checks: [NetworkCheck] = []
        let address = configuration.network.address
        let interface = Self.probeInterface(configuration, facts: facts)
        if address.mode == .static, let ip = address.ip.flatMap(IPInterface.init) {
            checks.append(
                addressFree(ip.address, interface: interface, ownAddresses: facts.interfaces.flatMap(\.addresses))
            )
            if let gateway = address.gateway.flatMap(IPAddress.init) {
                checks.append(gatewayAnswers(gateway, interface: interface))
            }
            let servers = address.dns.compactMap(IPAddress.init)
            checks.append(dnsResolves(servers: servers))
        } else {
            checks.append(systemResolverResolves())
        }
        if let proxy = configuration.engine.upstreamProxy {
            checks.append(proxyForwards(proxy, password: proxyPassword))
        }
        checks.append(Self.listenPort(configuration.engine.listen))
        return checks
    }

    static func probeInterface(_ configuration: NodeConfiguration, facts: HostFacts) -> String? {
        let names = Set(facts.interfaces.map(\.name))
        let network = configuration.network
        if names.contains(network.switch.name) { return network.switch.name }
        if let adapter = network.switch.adapter, names.contains(adapter) { return adapter }
        return facts.defaultRouteInterfaces.first
    }

    // MARK: The checks

    func addressFree(_ address: IPAddress, interface: String?, ownAddresses: [String]) -> NetworkCheck {
        let title = "Address \(address) not in use"
        if ownAddresses.contains(where: { IPInterface($0)?.address == address }) {
            return check("address", title, .pass, "this machine has it already")
        }
        guard case .v4(let value) = address else {
            return check("address", title, .warning, "only IPv4 addresses are probed; make sure \(address) is free")
        }
        guard let interface else { return check("address", title, .warning, "no interface to probe on") }
        switch ARPProbe.ask(interface: interface, target: value, timeoutSeconds: timeoutSeconds) {
        case .answered(let mac):
            return check(
                "address",
                title,
                .warning,
                "\(mac) answers for \(address) on \(interface): the address is taken"
            )
        case .silent:
            return check("address", title, .pass, "no answer to an ARP probe on \(interface)")
        case .failed(let reason):
            return check("address", title, .warning, "could not probe on \(interface): \(reason)")
        }
    }

    func gatewayAnswers(_ gateway: IPAddress, interface: String?) -> NetworkCheck {
        let title = "Gateway \(gateway) answers"
        guard case .v4(let value) = gateway else {
            return check("gateway", title, .warning, "only IPv4 gateways are probed")
        }
        guard let interface else { return check("gateway", title, .warning, "no interface to probe on") }
        switch ARPProbe.ask(interface: interface, target: value, timeoutSeconds: timeoutSeconds) {
        case .answered(let mac):
            return check("gateway", title, .pass, "\(mac) answers on \(interface)")
        case .silent:
            return check(
                "gateway",
                title,
                .warning,
                "no answer to ARP on \(interface): check the gateway and the cabling"
            )
        case .failed(let reason):
            return check("gateway", title, .warning, "could not probe on \(interface): \(reason)")
        }
    }

    func dnsResolves(servers: [IPAddress]) -> NetworkCheck {
        let title = "DNS resolves the Delivery Optimization hosts"
        guard !servers.isEmpty else { return check("dns", title, .warning, "no DNS server configured") }
        var failures: [String] = []
        for server in servers {
            for host in Self.deliveryHosts {
                switch DNSQuery.resolve(host, server: server, port: dnsPort, timeoutSeconds: timeoutSeconds) {
                case .success: continue
                case .failure(let reason) where reason.isSilence:
                    // A server that does not answer at all is said once, not once per host.
                    failures.append("\(server) \(reason)")
                case .failure(let reason): failures.append("\(server): \(host) \(reason)")
                }
                if failures.last?.hasPrefix("\(server) ") == true { break }
            }
        }
        let named = servers.map(\.description).joined(separator: ", ")
        return failures.isEmpty
            ? check("dns", title, .pass, "\(named) resolve \(Self.deliveryHosts.joined(separator: ", "))")
            : check("dns", title, .warning, failures.joined(separator: "; "))
    }

    /// With DHCP the servers are not known yet: the machine's own resolver is asked.
    func systemResolverResolves() -> NetworkCheck {
        let title = "DNS resolves the Delivery Optimization hosts"
        var failures: [String] = []
        for host in Self.deliveryHosts {
            if case .failure(let reason) = Self.resolve(host, timeoutSeconds: timeoutSeconds) {
                failures.append("\(host) \(reason)")
            }
        }
        return failures.isEmpty
            ? check("dns", title, .pass, "this machine's resolver answers for each")
            : check("dns", title, .warning, failures.joined(separator: "; "))
    }

    package func proxyForwards(_ url: String, password: String?) -> NetworkCheck {
        let title = "Upstream proxy forwards"
        guard var proxy = ProxyURL(url) else { return check("proxy", title, .warning, "not an http proxy URL") }
        if let password { proxy.password = password }
        let shown = "\(proxy.host):\(proxy.port)"
        let address: IPAddress
        if let literal = IPAddress(proxy.host) {
            address = literal
        } else {
            switch Self.resolve(proxy.host, timeoutSeconds: timeoutSeconds) {
            case .success(let resolved): address = resolved
            case .failure(let reason): return check("proxy", title, .warning, "the proxy \(proxy.host) \(reason)")
            }
        }
        var headers: [(String, String)] = [("Host", SelfTest.defaultOrigin)]
        if let user = proxy.user {
            headers.append(
                ("Proxy-Authorization", "Basic " + Data("\(user):\(proxy.password ?? "")".utf8).base64EncodedString())
            )
        }
        let target = ListenAddress(host: address.description, port: proxy.port)
        let response: HTTPProbe.Response
        do {
            response = try HTTPProbe.get(
                target,
                path: "http://\(SelfTest.defaultOrigin)\(SelfTest.path)",
                headers: headers,
                timeoutSeconds: timeoutSeconds,
                maximumBody: 2 << 20
            )
        } catch {
            return check("proxy", title, .warning, "\(shown): \(error)")
        }
        switch response.status {
        case 407:
            return check(
                "proxy",
                title,
                .warning,
                "\(shown) wants credentials (407): "
                    + (proxy.user == nil
                        ? "name the user in engine.upstream_proxy (http://user@host:port) and give the password"
                        : "user \(proxy.user!) and its password were refused")
            )
        case 200..<400:
            return check("proxy", title, .pass, "\(shown) fetched the validation request (\(response.status))")
        default:
            return check(
                "proxy",
                title,
                .warning,
                "\(shown) answers, but gave \(response.status) for the CDN: can it reach the internet?"
            )
        }
    }

    package static func listenPort(_ listen: String) -> NetworkCheck {
        let title = "Listen port"
        guard let port = ListenAddress(listen)?.port else {
            return NetworkCheck(
                id: "listen-port",
                title: title,
                status: .warning,
                detail: "\(listen) is not address:port",
                timeoutSeconds: 0
            )
        }
        return port == 80
            ? NetworkCheck(
                id: "listen-port",
                title: title,
                status: .pass,
                detail: "80, where Windows clients look",
                timeoutSeconds: 0
            )
            : NetworkCheck(
                id: "listen-port",
                title: title,
                status: .warning,
                detail:
                    "\(port): Windows clients reach a cache host on port 80 only; another port suits a trial or a proxy in front",
                timeoutSeconds: 0
            )
    }

    private func check(_ id: String, _ title: String, _ status: NetworkCheck.Status, _ detail: String) -> NetworkCheck {
        NetworkCheck(id: id, title: title, status: status, detail: detail, timeoutSeconds: timeoutSeconds)
    }

    // MARK: Name resolution through the system

    /// The first IPv4 address of `host` through this machine's resolver, or why there is none. `getaddrinfo` runs in
    /// a thread of its own and is abandoned after the timeout (glibc's resolver may wait much longer).
    static func resolve(_ host: String, timeoutSeconds: Int) -> Result<IPAddress, DNSQuery.Failure> {
        let result = Mutex<Result<IPAddress, DNSQuery.Failure>?>(nil)
        let thread = Thread {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_INET
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, "80", &hints, &list)
            var answer: Result<IPAddress, DNSQuery.Failure> =
                .failure(.init(description: "does not resolve (\(String(cString: gai_strerror(status))))"))
            if status == 0, let address = list?.pointee.ai_addr {
                let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                answer = .success(.v4(UInt32(bigEndian: value)))
            }
            if status == 0 { freeaddrinfo(list) }
            result.withLock { $0 = answer }
        }
        thread.start()
        for _ in 0..<(timeoutSeconds * 20) {
            if let answer = result.withLock({ $0 }) { return answer }
            usleep(50_000)
        }
        return .failure(.init(description: "gave no answer within \(timeoutSeconds) s", isSilence: true))
    }
}
