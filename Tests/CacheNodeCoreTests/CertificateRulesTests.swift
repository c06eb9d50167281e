import CacheNodeCore
import Foundation
import Testing

struct CertificateRulesTests {
    @Test(arguments: [
        ("cache.contoso.org", "cache.contoso.org", true),
        ("CACHE.contoso.org.", "cache.contoso.org", true),
        ("*.contoso.org", "cache.contoso.org", true),
        ("*.contoso.org", "a.cache.contoso.org", false),
        ("*.contoso.org", "contoso.org", false),
        ("cache.contoso.org", "cache2.contoso.org", false),
        ("10.0.0.50", "10.0.0.50", true),
        ("10.0.0.50", "10.0.0.51", false),
        ("*.0.0.50", "10.0.0.50", false),
        ("2001:db8::1", "[2001:db8:0::1]", true),
    ])
    func namesAreCoveredAsTLSClientsCheckThem(_ pattern: String, _ name: String, _ covered: Bool) {
        #expect(CertificateRules.covers(pattern, name) == covered)
    }

    @Test func requiredNamesAreTheConfiguredOnesOrTheDOCacheHostValue() {
        var configuration = ValidationTests.base()
        configuration.engine.listen = "0.0.0.0:8080"
        #expect(CertificateRules.requiredNames(configuration, hostName: "node1") == ["10.0.0.50"])
        configuration.network.address = .dhcp
        #expect(CertificateRules.requiredNames(configuration, hostName: "node1") == ["node1"])
        configuration.engine.https = .init(certificateFile: "/c.pem", keyFile: "/k.pem", names: ["cache.contoso.org"])
        #expect(CertificateRules.requiredNames(configuration, hostName: "node1") == ["cache.contoso.org"])
    }

    static func status(_ certificate: CertificateStatus?, problem: String? = nil) -> HTTPSStatus {
        HTTPSStatus(
            listen: "0.0.0.0:443",
            requiredNames: ["cache.contoso.org", "10.0.0.50"],
            certificate: certificate,
            problem: problem
        )
    }

    static func certificate(names: [String], daysLeft: Double, now: Date) -> CertificateStatus {
        CertificateStatus(
            subject: "CN=cache.contoso.org",
            issuer: "CN=Contoso CA",
            names: names,
            notBefore: now.addingTimeInterval(-86_400),
            notAfter: now.addingTimeInterval(daysLeft * 86_400),
            fingerprint: "SHA256:00"
        )
    }

    @Test func aGoodCertificateGivesNoReason() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let good = Self.certificate(names: ["cache.contoso.org", "10.0.0.50"], daysLeft: 90, now: now)
        #expect(CertificateRules.reasons(Self.status(good), now: now).isEmpty)
    }

    @Test func missingExpiringExpiredAndWrongNamesDegradeTheNode() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let missing = CertificateRules.reasons(
            Self.status(nil, problem: "/tls/certificate.pem does not exist"),
            now: now
        )
        #expect(missing.map(\.kind) == ["certificate_missing"])
        #expect(missing.first?.detail.contains("/tls/certificate.pem does not exist") == true)
        let soon = Self.certificate(names: ["*.contoso.org", "10.0.0.50"], daysLeft: 29.5, now: now)
        let expiring = CertificateRules.reasons(Self.status(soon), now: now)
        #expect(expiring.map(\.kind) == ["certificate_expiring"])
        #expect(expiring.first?.detail.contains("in 29 days") == true)
        let old = Self.certificate(names: ["cache.contoso.org", "10.0.0.50"], daysLeft: -1, now: now)
        #expect(CertificateRules.reasons(Self.status(old), now: now).map(\.kind) == ["certificate_expired"])
        let other = Self.certificate(names: ["other.contoso.org"], daysLeft: 90, now: now)
        let names = CertificateRules.reasons(Self.status(other), now: now)
        #expect(names.map(\.kind) == ["certificate_names"])
        #expect(names.first?.detail.contains("cache.contoso.org, 10.0.0.50") == true)
        #expect(
            (missing + expiring + names).allSatisfy { $0.severity == .degraded }
        )
    }
}
