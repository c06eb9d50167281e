import CacheNodeCore

extension WizardRenderer {
    /// What follows from the HTTPS choice: nothing served over TLS, the steps after a request, or what the files need.
    static func httpsNotes(_ wizard: Wizard, _ body: inout Body) {
        let https = wizard.draft.https
        body.blank()
        if https.mode == .off {
            body.add(
                ScreenLine("Clients fetch HTTPS content (Intune Win32 apps, Teams) from the CDN, not the cache.", .dim)
            )
            return
        }
        // The names first: on a short screen they stay in view below the field they follow from.
        let names = wizard.requiredCertificateNames.joined(separator: ", ")
        body.add(ScreenLine("The certificate must name: \(names)"), hanging: 2)
        if !https.names.value.isEmpty, !wizard.requiredCertificateNames.contains(wizard.defaultCertificateName) {
            body.add(
                ScreenLine(
                    "warning: \(wizard.defaultCertificateName), the DOCacheHost value clients are given, is not named",
                    .warning
                ),
                hanging: 9
            )
        }
        if https.mode == .request {
            requestSteps(wizard, &body)
        } else {
            body.add(ScreenLine("Clients must trust the CA that signed this certificate (Group Policy or Intune)."))
        }
    }

    /// What happens after "make a request now": where the request is written, who signs it, how it is installed.
    private static func requestSteps(_ wizard: Wizard, _ body: inout Body) {
        let files = NodeConfiguration.HTTPS.defaultFiles(state: wizard.draft.state.value)
        if case .readable = wizard.draft.https.files[files.certificate] {
            body.add(ScreenLine("The certificate in \(files.certificate) is kept."), hanging: 2)
            body.add(ScreenLine("Renew it: cachenode cert request, have it signed, cachenode cert install CERT."))
            return
        }
        body.add(ScreenLine("What happens next:", .emphasis))
        body.add(ScreenLine("  1. The install makes a key and a certificate request: \(files.request)"), hanging: 5)
        body.add(
            ScreenLine("  2. Have your organisation's CA sign it, then run: cachenode cert install CERT"),
            hanging: 5
        )
        body.add(ScreenLine("  3. Clients must trust that CA (deploy it by Group Policy or Intune)."), hanging: 5)
        body.add(ScreenLine("Until then HTTPS refuses connections and the node reports degraded.", .dim))
    }

    /// The Done screen's reminder after a certificate request: what the operator does next; `nil` otherwise.
    static func httpsNextStep(_ wizard: Wizard) -> String? {
        guard wizard.draft.https.mode == .request else { return nil }
        let files = NodeConfiguration.HTTPS.defaultFiles(state: wizard.draft.state.value)
        if case .readable = wizard.draft.https.files[files.certificate] { return nil }
        return "HTTPS: have \(files.request) signed by your organisation's CA, then run cachenode cert install CERT."
    }

    /// The HTTPS row of Review: off, or the listen address, where the certificate comes from, and the names.
    static func httpsReviewValue(_ wizard: Wizard, _ https: NodeConfiguration.HTTPS?) -> String {
        guard let https else { return "off: plain HTTP only" }
        let source: String
        switch wizard.draft.https.mode {
        case .request:
            let request = NodeConfiguration.HTTPS.defaultFiles(state: wizard.draft.state.value).request
            source = "request made at install (\(request))"
        case .off, .files:
            source =
                "certificate \(https.certificateFile), key \(https.keyFile)"
                + (https.chainFile.map { ", chain \($0)" } ?? "")
        }
        let names =
            https.names.isEmpty
            ? "\(wizard.defaultCertificateName) (the DOCacheHost value)" : https.names.joined(separator: ", ")
        return "\(https.listen); \(source); names \(names)"
    }
}
