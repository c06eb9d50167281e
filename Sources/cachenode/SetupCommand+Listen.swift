import CacheNodeCore
import WizardUI

extension SetupCommand {
    /// `--listen` and `--admin-listen` as `engine.listen` and `engine.admin` of an answer file must be: address:port
    /// each, and not the same port. The first problem, with the flag named.
    static func addressFlagProblem(listen: String?, admin: String?) -> String? {
        let flags = [
            ("--listen", listen, "as 0.0.0.0:80 or [::]:80"),
            ("--admin-listen", admin, "as 127.0.0.1:5000"),
        ]
        for case let (flag, value?, hint) in flags where ListenAddress(value) == nil {
            return "\(flag): '\(value)' is not address:port (\(hint))"
        }
        if let listen = listen.flatMap(ListenAddress.init), let admin = admin.flatMap(ListenAddress.init),
            listen.clashes(with: admin)
        {
            return "--admin-listen: \(admin) clashes with --listen \(listen) (a different port, as 127.0.0.1:5000)"
        }
        return nil
    }

    /// A flag that makes the engine's two listeners clash with the address the wizard starts from for the other
    /// one (the installed one, or the default).
    func clashWithKeptAddress(_ context: WizardContext) -> String? {
        let engine =
            context.installed.map { context.withGivenAddresses($0.engine) }
            ?? NodeConfiguration.Engine(listen: context.proposedListen, admin: context.proposedAdmin)
        guard listen == nil || adminListen == nil, let address = ListenAddress(engine.listen),
            let admin = ListenAddress(engine.admin), address.clashes(with: admin)
        else { return nil }
        let kept = context.installed == nil ? "default" : "installed"
        return listen != nil
            ? "--listen: \(address) clashes with the \(kept) engine.admin \(admin) (give --admin-listen too)"
            : "--admin-listen: \(admin) clashes with the \(kept) engine.listen \(address) (give --listen too)"
    }

    /// With `--answers` the answer file alone sets the engine's addresses: a flag that says otherwise is refused.
    func answerFileConflict(_ configuration: NodeConfiguration, file: String) -> String? {
        let flags = [
            ("--listen", listen, "engine.listen", configuration.engine.listen),
            ("--admin-listen", adminListen, "engine.admin", configuration.engine.admin),
        ]
        for case let (flag, given?, key, value) in flags where !Self.sameAddress(given, value) {
            return "\(flag) \(given) differs from \(key) \(value) of \(file): with --answers the answer file sets "
                + "the engine's addresses; change \(key) there"
        }
        return nil
    }

    private static func sameAddress(_ a: String, _ b: String) -> Bool {
        guard let first = ListenAddress(a), let second = ListenAddress(b) else { return a == b }
        return first == second
    }
}
