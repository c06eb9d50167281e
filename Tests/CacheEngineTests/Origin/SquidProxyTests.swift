import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// A real Squid on loopback as `engine.upstream_proxy`, with basic authentication and Squid's default rule that
/// refuses CONNECT to any port but 443: the engine must reach the origin through it with plain forwarding.
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

    static func start(user: String, password: String) async throws -> SquidProxy {
        let folder = NSTemporaryDirectory() + "cachenode-squid-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Squid drops to its own user when started as root: it must be able to write its logs here.
        chmod(folder, 0o777)
        let hash = try run("/usr/bin/openssl", ["passwd", "-apr1", password]).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        try "\(user):\(hash)\n".write(toFile: folder + "/passwd", atomically: true, encoding: .utf8)
        chmod(folder + "/passwd", 0o644)
        let port = freeLoopbackPort()
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
            acl SSL_ports port 443
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

    func accessLog() -> String {
        // Squid writes its access log through a buffer: ask for a rotation-free flush by waiting a little.
        for _ in 0..<40 {
            if let text = try? String(contentsOfFile: folder + "/access.log", encoding: .utf8), !text.isEmpty {
                return text
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

    private static func run(_ tool: String, _ arguments: [String]) throws -> String {
        try ChildProcess.run([tool] + arguments).stdout
    }
}

struct SquidFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
