import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Testing

/// The upstream-proxy check against a forward proxy on loopback (the test origin answers absolute-form requests).
@Suite(.serialized)
struct NetworkCheckerTests {
    static func proxy() async throws -> TestOrigin {
        let proxy = try await TestOrigin.start()
        let gif = Array("GIF89a".utf8) + [UInt8](repeating: 1, count: 512)
        proxy.add("/mscomtest/wuidt.gif", object: .init(bytes: gif, etag: "\"g\"", contentType: "image/gif"))
        return proxy
    }

    @Test func aProxyThatForwardsPasses() async throws {
        let proxy = try await Self.proxy()
        defer { Task { await proxy.stop() } }
        let check = NetworkChecker(timeoutSeconds: 2).proxyForwards("http://\(proxy.authority)", password: nil)
        #expect(check.status == .pass, "\(check)")
        #expect(proxy.absoluteTargets == ["http://au.download.windowsupdate.com/mscomtest/wuidt.gif"])
    }

    @Test func aProxyNamedByAHostNameIsResolvedFirst() async throws {
        let proxy = try await Self.proxy()
        defer { Task { await proxy.stop() } }
        // localhost comes from /etc/hosts: no query leaves this machine.
        let check = NetworkChecker(timeoutSeconds: 2).proxyForwards("http://localhost:\(proxy.port)", password: nil)
        #expect(check.status == .pass, "\(check)")
        #expect(check.detail.hasPrefix("localhost:\(proxy.port) fetched the validation request"))
    }

    @Test func aProxyThatWantsCredentialsNamesThem() async throws {
        let proxy = try await Self.proxy()
        defer { Task { await proxy.stop() } }
        proxy.requireProxyAuthorization("Basic " + Data("ada:right".utf8).base64EncodedString())
        let checker = NetworkChecker(timeoutSeconds: 2)
        let none = checker.proxyForwards("http://\(proxy.authority)", password: nil)
        #expect(none.status == .warning)
        #expect(
            none.detail.contains("wants credentials (407): name the user in engine.upstream_proxy"),
            "\(none.detail)"
        )
        let wrong = checker.proxyForwards("http://ada@\(proxy.authority)", password: "wrong")
        #expect(wrong.detail.contains("user ada and its password were refused"), "\(wrong.detail)")
        #expect(!wrong.detail.contains("wrong"))
        let right = checker.proxyForwards("http://ada@\(proxy.authority)", password: "right")
        #expect(right.status == .pass, "\(right.detail)")
    }

    @Test func aProxyThatIsNotThereIsAWarningWithinItsTimeout() throws {
        let port = freeLoopbackPort()
        let check = NetworkChecker(timeoutSeconds: 1).proxyForwards("http://127.0.0.1:\(port)", password: nil)
        #expect(check.status == .warning)
        #expect(check.detail.hasPrefix("127.0.0.1:\(port): cannot connect"), "\(check.detail)")
        #expect(check.timeoutSeconds == 1)
    }

    @Test(arguments: [("0.0.0.0:80", NetworkCheck.Status.pass), ("0.0.0.0:8080", .warning)])
    func theListenPortIsEightyOrAWarning(listen: String, status: NetworkCheck.Status) {
        let check = NetworkChecker.listenPort(listen)
        #expect(check.status == status)
        if status == .warning { #expect(check.detail.contains("Windows clients reach a cache host on port 80 only")) }
    }
}
