import CacheNodeCore

/// The apply step "link to the hub": registers and enrols the node in its hub, then makes the running engine report
/// there. The cachenode target implements it with the registry and the hub client; tests with a fake.
package protocol HubLinking: Sendable {
    /// Does at the hub what `configuration.hub` asks (create the hub or the node, enrol) and returns the link the
    /// engine reports over. A failure undoes what it did at the hub before it throws.
    func prepare(_ configuration: NodeConfiguration, layout: InstallLayout) async throws(InstallError) -> HubLinkPlan

    /// Waits a few seconds for the engine's first report over `plan`'s link (written at `since`); what to show.
    func firstReport(_ plan: HubLinkPlan, layout: InstallLayout, since: Double) async -> String
}

/// What the link step writes and how to take back what it did at the hub.
package struct HubLinkPlan: Sendable {
    /// `<state>/hub-link.json` as it should be; `nil` when the node joins no hub.
    package var linkFile: [UInt8]?
    /// What the step did, for the progress line.
    package var detail: String
    /// The link was already as the configuration says: nothing to write, no reload.
    package var unchanged: Bool
    /// The registry on this machine the engine writes its reports into, to hand to the service account.
    package var registry: String?
    /// Takes back what `prepare` did at the hub (a node it created is deleted); returns what could not be undone.
    package var undo: @Sendable () async -> [String]
    /// Runs once the engine took the new link (the node's record in a hub on this machine it left is removed);
    /// returns what to add to the progress line.
    package var finish: @Sendable () -> String?

    package init(
        linkFile: [UInt8]?,
        detail: String,
        unchanged: Bool = false,
        registry: String? = nil,
        undo: @escaping @Sendable () async -> [String] = { [] },
        finish: @escaping @Sendable () -> String? = { nil }
    ) {
        self.finish = finish
        self.linkFile = linkFile
        self.detail = detail
        self.unchanged = unchanged
        self.registry = registry
        self.undo = undo
    }
}
