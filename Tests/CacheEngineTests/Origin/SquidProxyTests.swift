import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// A real Squid on loopback as `engine.upstream_proxy`, with basic authentication and Squid's default rule that
/// refuses CONNECT to any port but 443 (and those a test allows): the engine must reach a plain-HTTP origin through
/// it with plain forwarding, and an HTTPS origin through a CONNECT tunnel.
@Suite(.enabled(if: SquidProxy.installed, "squid is not installed (.ci/run installs it)"))
struct SquidProxyTests {
    @Test func engineFillsThroughSquidWithBasicAuthentication() async throws {
        let squid = try await SquidProxy.start(user: "cache", password: "s3cret")
        defer { squid.stop() }
        try await EngineHarness.with(
            configure: { $0.engine.upstreamProxy = "http://cache:s3cret@127.0.0.1:\(squid.port)" }
        ) { harness in
            let origin = harness.origin
            let bytes = origin.add("/squid.bin", length: 700_000, seed: 51)
            for _ in 0..<2 {
                for (start, end) in [(0, 99), (100_000, 299_999), (650_000, 699_999)] {
                    let response = try await harness.get("/squid.bin", headers: [("Range", "bytes=\(start)-\(end)")])
                    #expect(response.status == 206, "\(String(decoding: response.body.prefix(300), as: UTF8.self))")
                    expectBytes(response.body, bytes[start...end])
                }
            }
            expectBytes(try await harness.get("/squid.bin").body, bytes)
            let log = squid.accessLog()
            #expect(log.contains("GET http://\(origin.authority)/squid.bin"), "\(log)")
            #expect(log.contains(" cache "), "Squid did not log the authenticated user: \(log)")
            #expect(!log.contains("CONNECT"), "\(log)")
            #expect(!log.contains("TCP_DENIED"), "\(log)")
            #expect(origin.requests("/squid.bin") >= 3)
        }
    }

    @Test func wrongPasswordGivesBadGatewayNamingTheSetting() async throws {
        let squid = try await SquidProxy.start(user: "cache", password: "s3cret")
        defer { squid.stop() }
        try await EngineHarness.with(
            configure: { $0.engine.upstreamProxy = "http://cache:wrong@127.0.0.1:\(squid.port)" }
        ) { harness in
            let origin = harness.origin
            origin.add("/squid.bin", length: 100_000, seed: 53)
            let response = try await harness.get("/squid.bin", headers: [("Range", "bytes=0-999")])
            #expect(response.status == 502)
            #expect(String(decoding: response.body, as: UTF8.self).contains("engine.upstream_proxy"))
            #expect(origin.requests("/squid.bin") == 0)
            #expect(squid.accessLog().contains("TCP_DENIED/407"))
        }
    }
}

extension SquidProxyTests {
    /// An HTTPS test origin (certificate for `names`), a Squid with the user `cache`/`s3cret` that allows `CONNECT` to
    /// the origin's port (or, `tunnelToOrigin` false, to 443 only, its default), and an engine that lists the origin
    /// as `https://<host>:<port>` and goes through the Squid with `password`; all stopped afterwards.
    static func withTunnel<T>(
        names: [String] = ["127.0.0.1"],
        host: String = "127.0.0.1",
        password: String = "s3cret",
        tunnelToOrigin: Bool = true,
        _ body: (EngineHarness, HTTPSOriginFixture, SquidProxy) async throws -> T
    ) async throws -> T {
        try await HTTPSOriginFixture.with(names: names) { fixture in
            let squid = try await SquidProxy.start(
                user: "cache",
                password: "s3cret",
                connectPorts: tunnelToOrigin ? [fixture.origin.port] : []
            )
            defer { squid.stop() }
            let configure = fixture.configure(host: host)
            return try await EngineHarness.with(
                origin: fixture.origin,
                configure: {
                    configure(&$0)
                    $0.engine.upstreamProxy = "http://cache:\(password)@127.0.0.1:\(squid.port)"
                }
            ) { harness in try await body(harness, fixture, squid) }
        }
    }

    /// An origin listed as https:// goes through Squid in a CONNECT tunnel, with the proxy's credentials, and the
    /// engine verifies the origin's certificate at the end of the tunnel.
    @Test func httpsOriginGoesThroughSquidInAConnectTunnelWithBasicAuthentication() async throws {
        try await HTTPSOriginFixture.with { fixture in
            let squid = try await SquidProxy.start(
                user: "cache",
                password: "s3cret",
                connectPorts: [fixture.origin.port]
            )
            defer { squid.stop() }
            let configure = fixture.configure()
            try await EngineHarness.with(
                origin: fixture.origin,
                configure: {
                    configure(&$0)
                    $0.engine.upstreamProxy = "http://cache:s3cret@127.0.0.1:\(squid.port)"
                }
            ) { harness in
                let origin = fixture.origin
                let bytes = origin.add("/tunnel.bin", length: 700_000, seed: 55)
                for _ in 0..<2 {
                    for (start, end) in [(0, 99), (100_000, 299_999), (650_000, 699_999)] {
                        let response = try await harness.get(
                            "/tunnel.bin",
                            headers: [("Range", "bytes=\(start)-\(end)")]
                        )
                        #expect(response.status == 206, "\(String(decoding: response.body.prefix(300), as: UTF8.self))")
                        expectBytes(response.body, bytes[start...end])
                    }
                }
                await harness.engine.settle()
                expectBytes(try await harness.get("/tunnel.bin").body, bytes)
                #expect(!origin.serverNames.isEmpty, "the origin saw no TLS handshake")
                #expect(origin.bytesSent == bytes.count)
            }
            // Squid logs a tunnel when it closes: the engine has stopped, so its tunnels have.
            let log = squid.accessLog(containing: "CONNECT")
            #expect(log.contains("CONNECT \(fixture.origin.authority)"), "\(log)")
            #expect(log.contains(" cache "), "Squid did not log the authenticated user: \(log)")
            #expect(!log.contains("GET http://"), "a request went through Squid in plain HTTP: \(log)")
        }
    }

    @Test func wrongPasswordForATunnelGivesBadGatewayNamingTheSetting() async throws {
        try await Self.withTunnel(password: "wrong") { harness, fixture, squid in
            fixture.origin.add("/tunnel.bin", length: 100_000, seed: 57)
            let response = try await harness.get("/tunnel.bin", headers: [("Range", "bytes=0-999")])
            #expect(response.status == 502)
            #expect(String(decoding: response.body, as: UTF8.self).contains("engine.upstream_proxy"))
            #expect(fixture.origin.requests("/tunnel.bin") == 0)
            #expect(squid.accessLog().contains("TCP_DENIED/407"))
        }
    }

    /// Through a tunnel the certificate must identify the origin itself: a named origin (Squid resolves `localhost`)
    /// whose certificate carries only the address both Squid and the origin listen on is refused, as it would be
    /// without the proxy; a certificate for the name serves the exact bytes, the name sent as SNI.
    @Test(arguments: [(["127.0.0.1"], false), (["localhost"], true)])
    func throughATunnelTheCertificateMustNameTheOrigin(names: [String], served: Bool) async throws {
        try await Self.withTunnel(names: names, host: "localhost") { harness, fixture, squid in
            let bytes = fixture.origin.add("/named.bin", length: 200_000, seed: 61)
            let target = "/named.bin?cacheHostOrigin=localhost:\(fixture.origin.port)"
            let response = try await TestHTTPClient.get(
                port: harness.port,
                target,
                headers: [("Range", "bytes=7-99999")]
            )
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
            if served {
                #expect(response.status == 206, "\(text)")
                expectBytes(response.body, bytes[7...99_999])
                #expect(
                    fixture.origin.serverNames.allSatisfy { $0 == "localhost" },
                    "\(fixture.origin.serverNames)"
                )
            } else {
                #expect(response.status == 502)
                #expect(text.contains("its certificate does not name localhost"), "\(text)")
                #expect(fixture.origin.requests("/named.bin") == 0)
            }
        }
    }

    /// Squid's default rule refuses CONNECT to a port but 443: the answer says the tunnel was refused, and the engine
    /// never falls back to plain HTTP.
    @Test func aProxyRefusingTheTunnelGivesBadGatewayWithTheReason() async throws {
        try await Self.withTunnel(tunnelToOrigin: false) { harness, fixture, squid in
            fixture.origin.add("/tunnel.bin", length: 100_000, seed: 59)
            let response = try await harness.get("/tunnel.bin")
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(response.status == 502)
            #expect(text.contains("refused a CONNECT tunnel to 127.0.0.1:\(fixture.origin.port)"), "\(text)")
            #expect(fixture.origin.connections == 0)
            #expect(!squid.accessLog().contains("GET http://"))
        }
    }
}

/// `squid -N` on a free loopback port with its own configuration, logs and password file in a temporary folder.
final class SquidProxy: Sendable {
    static let binary = "/usr/sbin/squid"
    static let helper = "/usr/lib/squid/basic_ncsa_auth"
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.isExecutableFile(atPath: helper)
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
    }

    let port: Int
    let folder: String
    private let process: ChildProcess

    private init(port: Int, folder: String, process: ChildProcess) {
        self.port = port
        self.folder = folder
        self.process = process
    }

    /// Squid with basic authentication for `user`; CONNECT is allowed to port 443 and to `connectPorts`.
    static func start(user: String, password: String, connectPorts: [Int] = []) async throws -> SquidProxy {
        let folder = NSTemporaryDirectory() + "cachenode-squid-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Squid drops to its own user when started as root: it must be able to write its logs here.
        chmod(folder, 0o777)
        let hash = try ChildProcess.run(["/usr/bin/openssl", "passwd", "-apr1", password]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try "\(user):\(hash)\n".write(toFile: folder + "/passwd", atomically: true, encoding: .utf8)
        chmod(folder + "/passwd", 0o644)
        let port = freeLoopbackPort()
        let sslPorts = ([443] + connectPorts).map(String.init).joined(separator: " ")
        let configuration = """
            http_port 127.0.0.1:\(port)
            visible_hostname cachenode-test
            pid_filename \(folder)/squid.pid
            access_log stdio:\(folder)/access.log
            cache_log \(folder)/cache.log
            cache_store_log none
            coredump_dir \(folder)
            cache deny all
            cache_mem 8 MB
            shutdown_lifetime 0 seconds
            auth_param basic program \(helper) \(folder)/passwd
            auth_param basic realm cachenode-test
            acl SSL_ports port \(sslPorts)
            acl CONNECT method CONNECT
            acl loopback src 127.0.0.0/8
            acl authenticated proxy_auth REQUIRED
            http_access deny CONNECT !SSL_ports
            http_access allow loopback authenticated
            http_access deny all

            """
        try configuration.write(toFile: folder + "/squid.conf", atomically: true, encoding: .utf8)
        let process = try ChildProcess([binary, "-N", "-f", folder + "/squid.conf"])
        let squid = SquidProxy(port: port, folder: folder, process: process)
        for _ in 0..<300 {
            if squid.accepting() { return squid }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: folder + "/cache.log", encoding: .utf8)) ?? ""
        squid.stop()
        throw SquidFailure(reason: "squid did not start on 127.0.0.1:\(port): \(log.suffix(2000))")
    }

    /// The access log once it holds `text` (or anything, for an empty `text`), or as it is after some seconds.
    func accessLog(containing text: String = "") -> String {
        // Squid writes its access log through a buffer: wait a little for the lines to appear.
        for _ in 0..<200 {
            if let log = try? String(contentsOfFile: folder + "/access.log", encoding: .utf8), !log.isEmpty,
                text.isEmpty || log.contains(text)
            {
                return log
            }
            usleep(50_000)
        }
        return (try? String(contentsOfFile: folder + "/access.log", encoding: .utf8)) ?? ""
    }

    func stop() {
        process.signal(SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func accepting() -> Bool {
        guard let fd = try? TestHTTPClient.connect(port: port) else { return false }
        close(fd)
        return true
    }
}

struct SquidFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
