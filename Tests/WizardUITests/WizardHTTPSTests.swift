import CacheNodeCore
import Synchronization
import Testing
import WizardUI

/// The HTTPS step: off by default, a certificate request made at the install, or files the operator has, each
/// validated where it is typed and giving the `engine.https` an answer file would.
struct WizardHTTPSTests {
    static let certificate = "/etc/ssl/cachenode/cert.pem"
    static let key = "/etc/ssl/private/cachenode.key"
    static let chain = "/etc/ssl/cachenode/chain.pem"

    /// A fake machine's files: a certificate, a key, a chain, a directory, and a key where a certificate belongs.
    static let files: @Sendable (String) -> FileFacts? = { path in
        switch path {
        case certificate, chain: .readable(pemLabels: ["CERTIFICATE"])
        case key: .readable(pemLabels: ["PRIVATE KEY"])
        case "/etc/ssl/private/rsa.key": .readable(pemLabels: ["RSA PRIVATE KEY"])
        case "/etc/ssl/cachenode": .notAFile
        case "/etc/ssl/locked.pem": .unreadable("Permission denied")
        default: .missing
        }
    }

    /// A wizard on the HTTPS step, its earlier answers given (a static address: the DOCacheHost value 10.0.0.50).
    static func atHTTPSStep(
        isTrial: Bool = true,
        files: @escaping @Sendable (String) -> FileFacts? = files,
        draftPath: String? = nil
    ) -> Wizard {
        var context = WizardFixtures.context(isTrial: isTrial, isDryRun: draftPath == nil, inspectFile: files)
        context.draftPath = draftPath
        var wizard = Wizard(context: context)
        wizard.draft.nodeName = TextField("Seattle-1")
        wizard.draft.ip = TextField("10.0.0.50/24")
        wizard.draft.gateway = TextField("10.0.0.1")
        wizard.draft.dns = TextField("10.0.0.2")
        wizard.step = .https
        return wizard
    }

    @Test func httpsIsOffByDefaultAndOneEnterGoesOn() {
        var wizard = Self.atHTTPSStep()
        #expect(wizard.fields(.https) == [.httpsMode])
        #expect(wizard.selection(.httpsMode) == 0)
        wizard.press(.enter)
        #expect(wizard.step == .review)
        #expect(wizard.screen.contains("  8 HTTPS       off: plain HTTP only\n"))
        #expect(wizard.draft.configuration(wizard.context).engine.https == nil)
    }

    /// The whole walk, key by key: "make a request now" on a trial proposes port 8443 and the default files, says
    /// what happens next, refuses a bad name inline, and ends with the `engine.https` an answer file gives.
    @Test func aRequestMadeNowOnATrialGivesWhatTheAnswerFileGives() throws {
        var wizard = Wizard(context: WizardFixtures.context(hubs: ["contoso-west"]))
        wizard.press(.char(" "), .enter)
        wizard.type("Seattle-1")
        wizard.press(.enter, .enter, .enter, .enter)
        wizard.type("10.0.0.50/24")
        wizard.press(.enter)
        wizard.type("10.0.0.1")
        wizard.press(.enter)
        wizard.type("10.0.0.2")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .storage)
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .resources)
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .hub)
        wizard.press(.enter, .enter)
        #expect(wizard.step == .https)

        wizard.press(.char("2"))
        #expect(wizard.fields(.https) == [.httpsMode, .httpsListen, .httpsNames])
        #expect(wizard.text(.httpsListen).text == "0.0.0.0:8443")
        wizard.press(.enter, .enter)
        #expect(wizard.focusedField == .httpsNames)
        #expect(
            wizard.rule(.httpsNames)
                == "blank: 10.0.0.50, the node's DOCacheHost value; else every name clients use, comma-separated"
        )
        try expectSnapshot(wizard, "22-https-request")

        // A URL where a name belongs is refused where it is typed.
        wizard.type("10.0.0.50, https://cache.contoso.org")
        wizard.press(.enter)
        #expect(wizard.step == .https)
        #expect(
            wizard.visibleErrors(.https)[.httpsNames]?.hasPrefix(
                "'https://cache.contoso.org' is not a host name or IP address"
            ) == true,
            "\(wizard.visibleErrors(.https))"
        )
        wizard.clearField()
        wizard.type("10.0.0.50, cache.contoso.org")
        #expect(wizard.screen.contains("The certificate must name: 10.0.0.50, cache.contoso.org"))
        wizard.press(.enter)
        #expect(wizard.step == .review)
        #expect(
            Self.words(wizard.screen).contains(
                "8 HTTPS 0.0.0.0:8443; request made at install (/var/lib/cachenode/tls/request.csr);"
            ),
            "\(wizard.screen)"
        )
        #expect(Self.words(wizard.screen).contains("names 10.0.0.50, cache.contoso.org"))

        wizard.reviewSelection = Wizard.reviewSteps.count
        guard case .finish(let configuration) = wizard.press(.enter) else {
            Issue.record("the dry run did not finish")
            return
        }
        let answers = try AnswerFile.load(Self.requestAnswers, sizing: WizardFixtures.sizing)
        #expect(configuration == answers)
        #expect(
            configuration.engine.https
                == .init(
                    listen: "0.0.0.0:8443",
                    certificateFile: "/var/lib/cachenode/tls/certificate.pem",
                    keyFile: "/var/lib/cachenode/tls/key.pem",
                    names: ["10.0.0.50", "cache.contoso.org"]
                )
        )
    }

    /// The answer file an administrator would write for the walk above.
    static let requestAnswers = """
        version: 1
        node:
          name: Seattle-1
        network:
          switch:
            mode: existing
            name: br0
          address:
            mode: static
            ip: 10.0.0.50/24
            gateway: 10.0.0.1
            dns: [10.0.0.2]
        storage:
          state: /var/lib/cachenode
          drives:
            - path: /srv/cache
              size_gb: 200
        resources:
          memory_gb: 8
          cores: 8
          profile: large
        hub:
          mode: existing
          name: contoso-west
        engine:
          listen: 0.0.0.0:8080
          https:
            listen: 0.0.0.0:8443
            certificate_file: /var/lib/cachenode/tls/certificate.pem
            key_file: /var/lib/cachenode/tls/key.pem
            names: [10.0.0.50, cache.contoso.org]

        """

    @Test func aRealInstallProposesPort443AndBlankNamesMeanTheDOCacheHostValue() {
        var wizard = Self.atHTTPSStep(isTrial: false)
        wizard.press(.char("2"))
        #expect(wizard.text(.httpsListen).text == "0.0.0.0:443")
        let https = wizard.draft.configuration(wizard.context).engine.https
        #expect(https?.names == [])
        #expect(wizard.requiredCertificateNames == ["10.0.0.50"])
        // A dynamic address: the DOCacheHost value is the host name.
        wizard.draft.addressMode = .dhcp
        #expect(wizard.requiredCertificateNames == ["node7.contoso.lan"])
        #expect(wizard.screen.contains("The certificate must name: node7.contoso.lan"))
        // The request follows the state directory.
        wizard.draft.state = TextField("/data/cachenode")
        #expect(
            wizard.draft.configuration(wizard.context).engine.https?.keyFile == "/data/cachenode/tls/key.pem"
        )
        #expect(wizard.screen.contains("1. The install makes a key and a certificate request:"))
        #expect(wizard.screen.contains("/data/cachenode/tls/request.csr"))
    }

    @Test func namesWithoutTheDOCacheHostValueWarnButPass() {
        var wizard = Self.atHTTPSStep()
        wizard.press(.char("2"), .enter, .enter)
        wizard.type("cache.contoso.org")
        #expect(
            wizard.screen.contains(
                "warning: 10.0.0.50, the DOCacheHost value clients are given, is not named"
            )
        )
        wizard.press(.enter)
        #expect(wizard.step == .review)
    }

    @Test func anHTTPSListenAddressThatClashesOrDoesNotParseIsRefused() {
        var wizard = Self.atHTTPSStep()
        wizard.press(.char("2"), .enter)
        wizard.clearField()
        wizard.type("0.0.0.0:8080")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .https)
        #expect(wizard.focusedField == .httpsListen)
        #expect(
            wizard.visibleErrors(.https)[.httpsListen]?.hasPrefix("0.0.0.0:8080 clashes with engine.listen") == true,
            "\(wizard.visibleErrors(.https))"
        )
        wizard.clearField()
        wizard.type("443")
        #expect(wizard.visibleErrors(.https)[.httpsListen]?.hasPrefix("'443' is not address:port") == true)
    }

    /// "Use these files": each path is checked as it is typed, through the context's probe, with the error inline.
    @Test(arguments: [
        (
            WizardField.certificateFile, "etc/ssl/cert.pem",
            "'etc/ssl/cert.pem' is not an absolute path (an absolute path to a PEM file)"
        ),
        (.certificateFile, "/etc/ssl/none.pem", "/etc/ssl/none.pem: no such file"),
        (.certificateFile, "/etc/ssl/cachenode", "/etc/ssl/cachenode: not a regular file"),
        (.certificateFile, "/etc/ssl/locked.pem", "/etc/ssl/locked.pem: cannot be read: Permission denied"),
        (
            .certificateFile, key,
            "\(key): holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)"
        ),
        (.keyFile, "", "type the path of the certificate's private key (PEM)"),
        (.keyFile, certificate, "\(certificate): holds no PEM private key (no -----BEGIN PRIVATE KEY----- line)"),
        (.chainFile, "/etc/ssl/none.pem", "/etc/ssl/none.pem: no such file"),
        (.chainFile, "chain.pem", "'chain.pem' is not an absolute path (an absolute path to a PEM file)"),
    ])
    func aFileThatCannotServeIsRefusedInline(field: WizardField, path: String, error: String) throws {
        var wizard = Self.atHTTPSStep()
        wizard.draft.https.certificateFile = TextField(Self.certificate)
        wizard.draft.https.keyFile = TextField(Self.key)
        wizard.press(.char("3"))
        #expect(
            wizard.fields(.https) == [.httpsMode, .certificateFile, .keyFile, .chainFile, .httpsListen, .httpsNames]
        )
        while wizard.focusedField != field { wizard.press(.tab) }
        wizard.clearField()
        wizard.type(path)
        #expect(wizard.visibleErrors(.https)[field] == error)
        // Enter walks to the last field, then submits.
        let index = try #require(wizard.fields(.https).firstIndex(of: field))
        for _ in index..<wizard.fields(.https).count { wizard.press(.enter) }
        #expect(wizard.step == .https)
        #expect(wizard.focusedField == field)
        #expect(wizard.screen.contains("error: " + error.prefix(40)))
    }

    @Test func filesThatServeGiveTheirPathsAndAnRSAKeyCounts() throws {
        var wizard = Self.atHTTPSStep()
        wizard.press(.char("3"), .enter)
        #expect(wizard.focusedField == .certificateFile)
        wizard.type(Self.certificate)
        wizard.press(.enter)
        wizard.type("/etc/ssl/private/rsa.key")
        wizard.press(.enter)
        wizard.type(Self.chain)
        wizard.press(.enter, .enter)
        wizard.type("cache.contoso.org")
        try expectSnapshot(wizard, "23-https-files")
        wizard.press(.enter)
        #expect(wizard.step == .review)
        #expect(
            wizard.draft.configuration(wizard.context).engine.https
                == .init(
                    listen: "0.0.0.0:8443",
                    certificateFile: Self.certificate,
                    keyFile: "/etc/ssl/private/rsa.key",
                    chainFile: Self.chain,
                    names: ["cache.contoso.org"]
                )
        )
        #expect(
            Self.words(wizard.screen).contains(
                "certificate \(Self.certificate), key /etc/ssl/private/rsa.key, chain \(Self.chain); names cache.contoso.org"
            ),
            "\(wizard.screen)"
        )
    }

    /// A file copied into place after it was typed counts once Enter is pressed: the step looks again.
    @Test func aFileThatAppearsLaterIsSeenOnEnter() {
        let present = Mutex(false)
        var wizard = Self.atHTTPSStep { path in
            guard path == Self.certificate else { return Self.files(path) }
            return present.withLock { $0 } ? .readable(pemLabels: ["CERTIFICATE"]) : .missing
        }
        wizard.press(.char("3"), .enter)
        wizard.type(Self.certificate)
        wizard.press(.enter)
        wizard.type(Self.key)
        wizard.press(.enter, .enter, .enter, .enter)
        #expect(wizard.step == .https)
        #expect(wizard.visibleErrors(.https)[.certificateFile] == "\(Self.certificate): no such file")
        #expect(wizard.focusedField == .certificateFile)
        present.withLock { $0 = true }
        // Enter walks from the field in error to the last one, then submits.
        wizard.press(.enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .review)
    }

    @Test func goingBackKeepsEveryAnswerOfBothWays() {
        var wizard = Self.atHTTPSStep()
        wizard.press(.char("3"), .enter)
        wizard.type(Self.certificate)
        wizard.press(.enter)
        wizard.type(Self.key)
        wizard.press(.tab, .tab)
        wizard.clearField()
        wizard.type("0.0.0.0:9443")
        // Esc to the hub and back; the choice and the files are as typed.
        wizard.press(.escape)
        #expect(wizard.step == .hub)
        wizard.press(.enter, .enter)
        #expect(wizard.step == .https)
        #expect(wizard.selection(.httpsMode) == 2)
        while wizard.focusedField != .httpsMode { wizard.press(.backTab) }
        #expect(wizard.text(.certificateFile).text == Self.certificate)
        // Off and back to the files: nothing lost; a request keeps the listen address typed.
        wizard.press(.char("1"), .char("3"))
        #expect(wizard.text(.keyFile).text == Self.key)
        wizard.press(.char("2"))
        #expect(wizard.text(.httpsListen).text == "0.0.0.0:9443")
        wizard.press(.char("3"), .enter, .enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .review)
        // From Review, step 8 opens it again with the answers, and Enter returns to Review.
        wizard.press(.char("8"))
        #expect(wizard.step == .https)
        #expect(wizard.text(.keyFile).text == Self.key)
        wizard.press(.enter, .enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .review)
        // Esc on Review goes back to the step before it: HTTPS.
        wizard.press(.escape)
        #expect(wizard.step == .https)
    }

    /// A re-run starts from the installed `engine.https`: the default files are the request setup made, others are
    /// files; left as they are, nothing changes.
    @Test(arguments: [
        NodeConfiguration.HTTPS(
            listen: "0.0.0.0:443",
            certificateFile: "/var/lib/cachenode/tls/certificate.pem",
            keyFile: "/var/lib/cachenode/tls/key.pem",
            names: ["cache.contoso.org"],
            handshakeTimeoutSeconds: 20
        ),
        NodeConfiguration.HTTPS(
            listen: "[::]:443",
            certificateFile: certificate,
            keyFile: key,
            chainFile: chain
        ),
    ])
    func aReRunStartsFromTheInstalledHTTPS(_ https: NodeConfiguration.HTTPS) throws {
        let installed = Self.installed(https: https)
        var wizard = Wizard(
            context: WizardFixtures.context(
                installed: installed,
                isTrial: false,
                isDryRun: false,
                inspectFile: Self.files
            )
        )
        let isRequest = https.certificateFile.hasPrefix("/var/lib/cachenode/")
        #expect(wizard.draft.https.mode == (isRequest ? .request : .files))
        #expect(wizard.draft.configuration(wizard.context) == installed)
        wizard.step = .https
        #expect(wizard.stepErrors(.https).isEmpty, "\(wizard.stepErrors(.https))")
        wizard.step = .review
        #expect(wizard.screen.contains("No setting changes from the installed node."), "\(wizard.screen)")
        // Turned off: Review shows what goes.
        wizard.press(.char("8"), .char("1"), .enter)
        #expect(wizard.step == .review)
        #expect(wizard.screen.contains("engine.https.listen: \(https.listen) -> -"))
        #expect(wizard.draft.configuration(wizard.context).engine.https == nil)
    }

    @Test func aReRunWithItsCertificateInstalledSaysItIsKept() throws {
        let https = NodeConfiguration.HTTPS(
            certificateFile: "/var/lib/cachenode/tls/certificate.pem",
            keyFile: "/var/lib/cachenode/tls/key.pem"
        )
        let files: @Sendable (String) -> FileFacts? = { path in
            path == https.certificateFile ? .readable(pemLabels: ["CERTIFICATE"]) : .missing
        }
        var wizard = Wizard(
            context: WizardFixtures.context(
                installed: Self.installed(https: https),
                isTrial: false,
                isDryRun: false,
                inspectFile: files
            )
        )
        wizard.step = .https
        #expect(wizard.screen.contains("The certificate in /var/lib/cachenode/tls/certificate.pem is kept."))
        #expect(!wizard.screen.contains("What happens next"))
    }

    /// A run cut off on the HTTPS step leaves a draft with `engine.https` as typed so far (a key path still missing);
    /// the next run reads it back into the same choice and fields, and says what is still missing.
    @Test(arguments: [HTTPSDraft.Mode.files, .request])
    func aDraftKeepsTheHTTPSAnswersAsTyped(_ mode: HTTPSDraft.Mode) throws {
        var wizard = Self.atHTTPSStep(draftPath: "/var/lib/cachenode/setup-draft.yaml")
        let context = wizard.context
        wizard.press(.char(mode == .files ? "3" : "2"), .enter)
        if mode == .files {
            wizard.type(Self.certificate)
            wizard.press(.enter, .enter, .enter, .enter)
        } else {
            wizard.press(.enter)
        }
        #expect(wizard.focusedField == .httpsNames)
        wizard.clearField()
        wizard.type("cache.contoso.org, 10.0.0.50")
        let text = try #require(wizard.draftAnswers)
        #expect(text.contains("  https:\n    listen: \"0.0.0.0:8443\"\n"), "\(text)")
        #expect(text.contains("    names: [cache.contoso.org, 10.0.0.50]\n"), "\(text)")
        if mode == .files {
            #expect(text.contains("    certificate_file: \(Self.certificate)\n"), "\(text)")
            #expect(text.contains("#   engine.https.key_file: "), "\(text)")
        } else {
            #expect(text.contains("    key_file: /var/lib/cachenode/tls/key.pem\n"), "\(text)")
        }

        let decoded = try #require(AnswerFile.decode(text).configuration)
        var resumedContext = context
        resumedContext.savedAnswers = .init(path: context.draftPath ?? "", savedAt: "today", configuration: decoded)
        var resumed = Wizard(context: resumedContext)
        resumed.press(.enter)
        #expect(resumed.draft.https.mode == mode)
        #expect(resumed.draft.https.names.text == "cache.contoso.org, 10.0.0.50")
        #expect(resumed.draft.https.listen.text == "0.0.0.0:8443")
        #expect(resumed.draft.https.certificateFile.text == (mode == .files ? Self.certificate : ""))
        #expect(resumed.draft.https.keyFile.text == "")
        #expect(
            resumed.draft.configuration(resumed.context).engine.https
                == wizard.draft.configuration(context).engine.https
        )
    }

    @Test func savedAnswersBringTheirHTTPSBack() {
        let https = NodeConfiguration.HTTPS(
            listen: "0.0.0.0:8443",
            certificateFile: Self.certificate,
            keyFile: Self.key
        )
        var context = WizardFixtures.context(inspectFile: Self.files)
        context.savedAnswers = .init(
            path: "/tmp/draft.yaml",
            savedAt: "today",
            configuration: Self.installed(https: https)
        )
        var wizard = Wizard(context: context)
        wizard.press(.enter)
        #expect(wizard.draft.https.mode == .files)
        #expect(wizard.draft.configuration(wizard.context).engine.https == https)
    }

    /// `screen` as words, one space apart: a long Review row wraps.
    static func words(_ screen: String) -> String {
        screen.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func installed(https: NodeConfiguration.HTTPS) -> NodeConfiguration {
        NodeConfiguration(
            node: .init(name: "Seattle-1"),
            network: .init(
                switch: .init(mode: .existing, name: "br0"),
                address: .init(mode: .static, ip: "10.0.0.50/24", gateway: "10.0.0.1", dns: ["10.0.0.2"])
            ),
            storage: .init(drives: [.init(path: "/srv/cache", sizeGB: 200)]),
            resources: .init(memoryGB: 8, cores: 8, profile: "large"),
            hub: .init(mode: .existing, name: "contoso-west"),
            engine: .init(listen: "0.0.0.0:80", https: https)
        )
    }
}
