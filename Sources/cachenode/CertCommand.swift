import ArgumentParser
import CacheNodeCore
import Foundation
import Installer

struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Make a certificate request for the node's HTTPS listener, and install the signed certificate.",
        discussion: """
            HTTPS is turned on by cachenode setup (engine.https). `cert request` makes a key and a request (CSR) for \
            the names clients use in DOCacheHost; your CA signs it; `cert install CERT` checks the certificate and \
            swaps it in, and the running engine serves it from its next handshake. An ACME client renews with \
            `cert install` as its deploy hook.
            """,
        subcommands: [CertRequestCommand.self, CertInstallCommand.self]
    )
}

extension KeyAlgorithm: ExpressibleByArgument {}

/// The installed node's HTTPS settings, as the cert commands need them.
struct NodeTLS {
    var node: InstalledNode
    var https: NodeConfiguration.HTTPS
    var files: TLSFiles
    /// The names and addresses clients use in `DOCacheHost`, which the certificate must cover.
    var requiredNames: [String]

    init(_ install: InstallOptions) throws(CommandFailure) {
        node = try install.installed()
        guard let https = node.configuration.engine.https else {
            throw CommandFailure(.failure, "\(CertificateError.httpsOff(configuration: node.layout.configuration))")
        }
        self.https = https
        files = TLSFiles(https, layout: node.layout)
        requiredNames = CertificateRules.requiredNames(node.configuration, hostName: currentHostName())
    }

    var owner: ServiceAccount? { TLSFiles.owner(node.layout) }

    /// `cachenode cert SUBCOMMAND` for this node, with `--root` and `--state` when they are not the defaults.
    func command(_ subcommand: String, _ arguments: String) -> String {
        var words = ["cachenode", "cert", subcommand]
        if !node.layout.isRealInstall { words += ["--root", node.layout.root] }
        if node.layout.state != NodeConfiguration.Storage.defaultState { words += ["--state", node.layout.state] }
        return (words + [arguments]).joined(separator: " ")
    }
}

extension CertificateError {
    /// How the command line ends for this error: a certificate or name refused is invalid input (2), the rest 1.
    var failure: CommandFailure {
        switch self {
        case .httpsOff, .file, .request: CommandFailure(.failure, description)
        default: CommandFailure(.invalid, description)
        }
    }
}

struct CertRequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Make a new key and a certificate signing request (CSR) for the node's HTTPS names.",
        discussion: """
            The key (mode 0600, the engine's user's) stays beside the request until `cachenode cert install` \
            installs its certificate: the key in use is not touched. A new request replaces a pending one.
            """
    )

    @OptionGroup var install: InstallOptions

    @Option(
        name: .customLong("name"),
        help: ArgumentHelp(
            "A name or address clients use in DOCacheHost; repeat for more (the first is the CN).",
            discussion: "Default: engine.https.names, else the node's DOCacheHost value.",
            valueName: "name"
        )
    )
    var names: [String] = []

    @Option(help: "The key: ecdsa-p256, or rsa-2048 for a CA that signs RSA keys only.")
    var keyType: KeyAlgorithm = .ecdsaP256

    func run() throws {
        let tls = try NodeTLS(install)
        let names = self.names.isEmpty ? tls.requiredNames : self.names
        let requester = CertificateRequester(files: tls.files, owner: tls.owner)
        let replaced = requester.pending()
        do { try requester.make(names: names, algorithm: keyType) } catch { throw error.failure }
        print("Certificate request for node \(tls.node.configuration.node.name): \(tls.files.request)")
        print("Names: \(names.joined(separator: ", ")) (CN \(names[0]))")
        print("Key: \(tls.files.requestKey) (\(keyType.rawValue), mode 0600); the key in use stays until the")
        print("     certificate is installed.")
        if replaced != nil {
            print("It replaces the pending request: a certificate issued for that one no longer fits.")
        }
        let missing = CertificateRules.uncovered(tls.requiredNames, by: names)
        if !missing.isEmpty {
            print(
                "warning: clients use \(missing.joined(separator: ", ")) (engine.https.names, or DOCacheHost), which "
                    + "this request leaves out: cert install refuses a certificate that does not cover them."
            )
        }
        print("Next: have your CA sign the request, then run: \(tls.command("install", "CERT [--chain FILE]"))")
    }
}

struct CertInstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Check a signed certificate and swap it in; the running engine serves it from its next handshake.",
        discussion: """
            The certificate must match the pending request's key, the key in use, or --key FILE (for ACME clients \
            that make their own key); cover the names clients use in DOCacheHost; be valid now; and build a chain \
            to a root in the given files or the system's CA store. Nothing changes when a check fails. \
            Exit status: 0 installed, 1 installed but the engine could not be reloaded or another failure, \
            2 the certificate was refused.
            """
    )

    @OptionGroup var install: InstallOptions

    @Argument(help: "The signed certificate (PEM); further certificates in the file are its chain.")
    var certificate: String

    @Option(help: "The issuing CA's certificates (PEM): intermediates, and the root when the system does not trust it.")
    var chain: String?

    @Option(help: "The certificate's key (PEM), when it was not made by cachenode cert request.")
    var key: String?

    func run() async throws {
        let tls = try NodeTLS(install)
        let check = CertificateCheck(requiredNames: tls.requiredNames)
        let keys = key.map { [FileSystem.absolute($0)] } ?? [tls.files.requestKey, tls.files.key]
        let checked: CheckedCertificate
        do {
            checked = try await check.check(
                certificate: FileSystem.absolute(certificate),
                chain: chain.map(FileSystem.absolute),
                keys: keys
            )
        } catch { throw error.failure }
        let installer = CertificateInstaller(files: tls.files, owner: tls.owner)
        let changed: [String]
        do { changed = try installer.install(checked) } catch { throw error.failure }
        print(Self.summary(checked, node: tls.node.configuration.node.name, changed: changed))
        if let pending = CertificateRequester(files: tls.files, owner: nil).pending() {
            // A key of its own (an ACME client's) was installed: the request made here is still waiting.
            print(
                "The request \(pending.request) is still pending (for \(pending.names.joined(separator: ", "))): its "
                    + "certificate would replace this one; remove it and \(pending.key) if it is no longer needed."
            )
        }
        try await reload(tls)
    }

    /// What was installed, as a person reads it.
    static func summary(_ checked: CheckedCertificate, node: String, changed: [String], now: Date = Date()) -> String {
        let status = checked.status
        let days = Int(status.notAfter.timeIntervalSince(now) / 86_400)
        let day = Date.ISO8601FormatStyle().year().month().day()
        return [
            "Installed the HTTPS certificate of node \(node):",
            "  subject:  \(status.subject)",
            "  issuer:   \(status.issuer)",
            "  names:    \(status.names.joined(separator: ", "))",
            "  valid:    \(status.notBefore.formatted(day)) to \(status.notAfter.formatted(day)) (\(days) days left)",
            "  chain:    \(checked.intermediates.count) intermediate(s), root \(CertificateStatus(checked.root).subject)",
            "  files:    " + (changed.isEmpty ? "unchanged (already installed)" : changed.joined(separator: ", ")),
        ].joined(separator: "\n")
    }

    /// Has the running engine read the files again; a node whose engine is down reads them when it starts.
    private func reload(_ tls: NodeTLS) async throws(CommandFailure) {
        switch await EngineReload.reload(layout: tls.node.layout) {
        case .reloaded(let how):
            print("The engine reloads (\(how)): new handshakes get the new certificate.")
        case .notRunning:
            print("The engine is not running: it serves the certificate when it starts.")
        case .failed(let problem):
            throw CommandFailure(
                .failure,
                "the certificate is installed, but the engine could not be reloaded: \(problem); it picks up the files "
                    + "when it next notices them, or run: systemctl reload cachenode"
            )
        }
    }
}
