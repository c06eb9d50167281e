import CacheNodeCore
import Testing

/// `engine.https` and `engine.origin_ca_file`: read, written back, and checked with key paths.
struct HTTPSConfigurationTests {
    static let section = """
          https:
            listen: 0.0.0.0:443
            certificate_file: /var/lib/cachenode/tls/certificate.pem
            key_file: /var/lib/cachenode/tls/key.pem
            names: [cache.contoso.org, 10.0.0.50]
          origin_ca_file: /etc/ssl/contoso-ca.pem

        """

    @Test func theSectionIsReadAndWrittenBack() throws {
        let configuration = try AnswerFile.load(AnswerFileTests.valid + Self.section, sizing: TestResources.sizing)
        let https = try #require(configuration.engine.https)
        #expect(https.listen == "0.0.0.0:443")
        #expect(https.certificateFile == "/var/lib/cachenode/tls/certificate.pem")
        #expect(https.keyFile == "/var/lib/cachenode/tls/key.pem")
        #expect(https.chainFile == nil)
        #expect(https.names == ["cache.contoso.org", "10.0.0.50"])
        #expect(https.handshakeTimeoutSeconds == NodeConfiguration.HTTPS.defaultHandshakeTimeoutSeconds)
        #expect(configuration.engine.originCAFile == "/etc/ssl/contoso-ca.pem")
        let emitted = AnswerFile.emit(configuration)
        #expect(try AnswerFile.load(emitted, sizing: TestResources.sizing) == configuration)
    }

    @Test func leftOutOrNullMeansPlainHTTPOnly() throws {
        let plain = try AnswerFile.load(AnswerFileTests.valid, sizing: TestResources.sizing)
        #expect(plain.engine.https == nil)
        let null = try AnswerFile.load(AnswerFileTests.valid + "  https: null\n", sizing: TestResources.sizing)
        #expect(null.engine.https == nil)
        #expect(!AnswerFile.emit(null).contains("https"))
    }

    @Test func missingFilesAndUnknownKeysAreNamedWithTheirLine() {
        let issues = AnswerFileTests.issues(
            AnswerFileTests.valid + """
                  https:
                    listen: 0.0.0.0:443
                    certficate_file: /x.pem

                """
        )
        let paths = Set(issues.map(\.keyPath))
        #expect(paths.contains("engine.https.certificate_file"))
        #expect(paths.contains("engine.https.key_file"))
        #expect(paths.contains("engine.https.certficate_file"))
        #expect(issues.allSatisfy { $0.line != nil })
    }

    @Test func everyValueIsChecked() {
        let problems = ValidationTests.problems {
            $0.engine.https = .init(
                listen: "0.0.0.0:80",
                certificateFile: "tls/cert.pem",
                keyFile: "tls/cert.pem",
                chainFile: "/etc/ssl/chain.pem",
                names: ["cache.contoso.org", "not a name", "10.0.0.50"],
                handshakeTimeoutSeconds: 0
            )
            $0.engine.originCAFile = "ca.pem"
        }
        #expect(problems["engine.https.listen"] == "0.0.0.0:80 clashes with engine.listen 0.0.0.0:80")
        #expect(problems["engine.https.certificate_file"] != nil)
        #expect(problems["engine.https.key_file"] != nil)
        #expect(problems["engine.https.chain_file"] == nil)
        #expect(problems["engine.https.names[1]"] == "'not a name' is not a host name or IP address")
        #expect(problems["engine.https.names[0]"] == nil)
        #expect(problems["engine.https.names[2]"] == nil)
        #expect(
            problems["engine.https.handshake_timeout_s"] == "must be a whole number of seconds from 1 to 120, found 0"
        )
        #expect(problems["engine.origin_ca_file"] != nil)
        let valid = ValidationTests.problems {
            $0.engine.https = .init(
                certificateFile: "/var/lib/cachenode/tls/certificate.pem",
                keyFile: "/var/lib/cachenode/tls/key.pem"
            )
        }
        #expect(valid.isEmpty)
    }

    @Test func aTrialRootMovesTheFiles() {
        var configuration = ValidationTests.base()
        configuration.engine.https = .init(
            certificateFile: "/var/lib/cachenode/tls/certificate.pem",
            keyFile: "/var/lib/cachenode/tls/key.pem",
            chainFile: "/etc/chain.pem"
        )
        configuration.engine.originCAFile = "/etc/ca.pem"
        let moved = configuration.mappingPaths { "/tmp/demo" + $0 }
        #expect(moved.engine.https?.certificateFile == "/tmp/demo/var/lib/cachenode/tls/certificate.pem")
        #expect(moved.engine.https?.keyFile == "/tmp/demo/var/lib/cachenode/tls/key.pem")
        #expect(moved.engine.https?.chainFile == "/tmp/demo/etc/chain.pem")
        #expect(moved.engine.originCAFile == "/tmp/demo/etc/ca.pem")
        #expect(
            NodeConfiguration.HTTPS.defaultFiles(state: "/var/lib/cachenode/").key == "/var/lib/cachenode/tls/key.pem"
        )
    }
}
