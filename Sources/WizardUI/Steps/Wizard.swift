import CacheNodeCore

/// What the owner of the wizard does after a key.
package enum WizardAction: Equatable, Sendable {
    /// Redraw; nothing else.
    case none
    /// The operator confirmed quitting: restore the terminal, change nothing.
    case quit
    /// A dry run finished: the answers are complete and nothing is installed.
    case finish(NodeConfiguration)
    /// Install this configuration, feeding progress back through `record(_:)` and `finishApply(_:)`.
    case apply(NodeConfiguration)
    /// The Done screen was closed.
    case exit(ApplyOutcome)
    /// Check the network of these answers, then hand the results to `recordNetworkChecks(_:for:)`.
    case checkNetwork(NodeConfiguration)
    /// Check the hub service at once, then hand the result to `recordHubCheck(_:for:)`.
    case checkHub(HubCheckRequest)
}

/// The whole wizard as a value-type state machine: keys in, the next action out; rendering is separate.
package struct Wizard: Sendable {
    /// A box drawn over the step.
    package enum Overlay: Equatable, Sendable {
        case help
        case confirmQuit
        /// The first question when an earlier run saved its answers: start from them, or afresh.
        case resumeDraft
    }

    /// The choices of the `resumeDraft` question.
    package static let resumeOptions = ["Start from these answers", "Start afresh"]

    package let context: WizardContext
    package var step = WizardStep.welcome {
        didSet {
            furthest = max(furthest, step)
            // The files may have been copied into place, or the state directory changed, since the step was seen.
            if step == .https { draft.https.inspectFiles(context, state: draft.state.value) }
        }
    }
    /// The furthest step reached: past the welcome screen, the answers are worth keeping.
    package private(set) var furthest = WizardStep.welcome
    /// The wizard started from answers an earlier run saved.
    package private(set) var resumed = false
    /// The operator chose to start afresh instead of from the saved answers.
    private var resumeDeclined = false
    /// The selected choice of the `resumeDraft` question.
    package var resumeSelection = 0
    package var draft: WizardDraft
    /// The focused field of each step, by index into `fields(step)`.
    package var focus: [WizardStep: Int] = [:]
    /// Text fields edited so far: their errors show as you type.
    package var touched: Set<WizardField> = []
    /// Steps where Enter was pressed: every error of the step shows.
    package var attempted: Set<WizardStep> = []
    package var overlay: Overlay?
    /// Set when a step was opened from Review: finishing it returns there.
    package var returnToReview = false
    /// The selected Review row; the rows are steps 2 to 8, then the final action.
    package var reviewSelection = 0
    /// A line for the whole step, as "fix the fields in red".
    package var message: String?
    package var cols = 80
    package var rows = 24
    package var applyLog: [ApplyProgress] = []
    package var outcome: ApplyOutcome?
    /// The network checks and the answers they were run for; they no longer count once those answers change.
    package private(set) var networkChecks: (answers: NetworkAnswers, results: [NetworkCheck])?

    /// The answers the network checks depend on.
    package struct NetworkAnswers: Equatable, Sendable {
        var network: NodeConfiguration.Network
        var listen: String
        var proxy: String?

        init(_ configuration: NodeConfiguration) {
            network = configuration.network
            listen = configuration.engine.listen
            proxy = configuration.engine.upstreamProxy
        }
    }

    /// The results of the network checks for the answers as they are now; `nil` until they ran for them.
    package var currentNetworkChecks: [NetworkCheck]? {
        guard let networkChecks, networkChecks.answers == NetworkAnswers(draft.configuration(context)) else {
            return nil
        }
        return networkChecks.results
    }

    /// The hub service check and the answers it ran for.
    package private(set) var hubCheck: (request: HubCheckRequest, result: HubCheckResult)?

    /// The hub service check to run for the answers as they are now.
    package var hubCheckRequest: HubCheckRequest {
        let hub = draft.hub(context)
        var adminToken: String?
        if case .adminToken(let token) = draft.hubCredentialGiven { adminToken = token }
        return HubCheckRequest(
            url: hub.url ?? "",
            fingerprint: hub.fingerprint,
            caFile: hub.caFile,
            adminToken: adminToken
        )
    }

    /// The hub service check's result for the answers as they are now; `nil` until it ran for them.
    package var currentHubCheck: HubCheckResult? {
        guard let hubCheck, hubCheck.request == hubCheckRequest else { return nil }
        return hubCheck.result
    }

    /// The result of `.checkHub`: a problem shows on its field; an admin token's hubs become the list to pick from.
    package mutating func recordHubCheck(_ result: HubCheckResult, for request: HubCheckRequest) -> WizardAction {
        hubCheck = (request, result)
        if let hubs = result.hubs {
            let chosen = draft.hub(context).name
            draft.serviceHubs = hubs
            draft.serviceNodesByHub = result.nodesByHub
            draft.existingHub = hubs.firstIndex(of: chosen) ?? min(draft.existingHub, max(0, hubs.count - 1))
        }
        guard step == .hub else { return .none }
        attempted.insert(.hub)
        let problems: [(WizardField, String?)] = [
            (.hubURL, result.urlProblem), (.hubCertificate, result.trustProblem), (.hubSecret, result.secretProblem),
        ]
        if let field = problems.first(where: { $0.1 != nil })?.0 {
            focusIndex = fields(step).firstIndex(of: field) ?? focusIndex
            message = "The hub service check failed: see the field marked 'error'."
            return .none
        }
        if draft.hubPlace == .service, draft.hubJoin == .adminToken, focusedField != .existingHub,
            let pick = fields(step).firstIndex(of: .existingHub)
        {
            // The hubs are known now: pick one.
            focusIndex = pick
            message = nil
            return .none
        }
        return submit()
    }

    /// The network checks that warn, for the answers as they are now.
    package var networkWarnings: [NetworkCheck] { currentNetworkChecks?.filter { $0.status == .warning } ?? [] }

    /// The results of `.checkNetwork`: all passing, the wizard goes on; else it shows them and asks for the tick.
    package mutating func recordNetworkChecks(_ results: [NetworkCheck], for configuration: NodeConfiguration)
        -> WizardAction
    {
        networkChecks = (NetworkAnswers(configuration), results)
        draft.networkWarningsAccepted = false
        guard step == .address else { return .none }
        if networkWarnings.isEmpty { return submit() }
        focusIndex = fields(step).firstIndex(of: .networkWarningsAccepted) ?? focusIndex
        message = "Read the network warnings below: tick the box to go on, or change the answers."
        return .none
    }

    package init(context: WizardContext, cols: Int = 80, rows: Int = 24) {
        self.context = context
        self.draft = WizardDraft(context: context)
        self.cols = cols
        self.rows = rows
        if context.savedAnswers != nil { overlay = .resumeDraft }
    }

    /// The Review rows that open a step.
    package static let reviewSteps: [WizardStep] = [.name, .network, .address, .storage, .resources, .hub, .https]

    // MARK: Fields

    /// The inputs of `step`, in focus order, for the answers given so far.
    package func fields(_ step: WizardStep) -> [WizardField] {
        switch step {
        case .welcome:
            return !context.check.isBlocked && !welcomeWarnings.isEmpty ? [.continueAnyway] : []
        case .name:
            return context.installed == nil ? [.nodeName] : []
        case .network:
            switch draft.switchMode {
            case .existing: return [.switchMode, .existingSwitch]
            case .create: return [.switchMode, .newSwitch, .adapter, .restartUnderstood]
            }
        case .address:
            let address: [WizardField] = draft.addressMode == .static ? [.ip, .gateway, .dns] : []
            return [.addressMode] + address + [.upstreamProxy] + (draft.proxyNeedsPasswordField ? [.proxyPassword] : [])
                + (networkWarnings.isEmpty ? [] : [.networkWarningsAccepted])
        case .storage:
            return [.state] + draft.drives.indices.flatMap { [WizardField.drivePath($0), .driveSize($0)] } + [.addDrive]
        case .resources:
            return [.profile, .memory, .cores] + (resourceWarnings.isEmpty ? [] : [.belowProfileAccepted])
        case .hub:
            return hubFields
        case .https:
            return httpsFields
        case .review, .apply, .done:
            return []
        }
    }

    package func kind(_ field: WizardField) -> WizardField.Kind {
        switch field {
        case .nodeName, .newSwitch, .ip, .gateway, .dns, .upstreamProxy, .proxyPassword, .state, .drivePath, .driveSize,
            .memory, .cores, .newHub, .hubURL, .hubCertificate, .hubSecret, .keyHub, .httpsListen, .httpsNames,
            .certificateFile, .keyFile, .chainFile:
            .text
        case .switchMode, .addressMode: .choice(2)
        case .hubMode, .hubJoin, .httpsMode: .choice(3)
        case .existingSwitch: .choice(context.switches.count)
        case .adapter: .choice(context.adapters.count)
        case .existingHub: .choice(hubOptions.count)
        case .profile: .choice(context.profiles.count)
        case .continueAnyway, .restartUnderstood, .belowProfileAccepted, .networkWarningsAccepted: .checkbox
        case .addDrive: .button
        }
    }

    /// The entries of a numbered list.
    package func options(_ field: WizardField) -> [WizardContext.Choice] {
        switch field {
        case .switchMode: [.init("Use an existing switch"), .init("Create a new switch")]
        case .addressMode:
            [
                .init("Static", detail: "recommended"),
                .init("Dynamic (DHCP)", detail: "the address can change on restart"),
            ]
        case .hubMode:
            [
                .init("Yes, use a hub I have", detail: "on this machine"),
                .init("No, create a new hub", detail: "on this machine"),
                .init("A hub service on another machine", detail: "its address and certificate, then a key or token"),
            ]
        case .hubJoin:
            [
                .init("A one-time key", detail: "from `cachenode node create` on the hub"),
                .init("The admin token, and one of its hubs", detail: "setup creates this node there"),
                .init("The admin token, and a new hub", detail: "setup creates the hub and this node"),
            ]
        case .httpsMode: Self.httpsOptions
        case .existingSwitch: context.switches
        case .adapter: context.adapters
        case .existingHub: hubOptions
        case .profile:
            context.profiles.map { profile in
                let fits = profile.id == context.check.fittingProfile ? ", fits this machine" : ""
                return .init(
                    profile.id,
                    detail: "\(HostCheck.format(profile.memoryGB)) GB, \(profile.cores) cores, "
                        + "\(HostCheck.format(profile.diskGB)) GB disk\(fits) - \(profile.title)"
                )
            }
        default: []
        }
    }

    /// The selected entry of a numbered list.
    package func selection(_ field: WizardField) -> Int {
        switch field {
        case .switchMode: draft.switchMode == .existing ? 0 : 1
        case .addressMode: draft.addressMode == .static ? 0 : 1
        case .hubMode: draft.hubPlace == .service ? 2 : draft.hubMode == .existing ? 0 : 1
        case .hubJoin: [HubJoin.enrolmentKey, .adminToken, .adminTokenNewHub].firstIndex(of: draft.hubJoin) ?? 0
        case .httpsMode: draft.https.mode.rawValue
        case .existingSwitch: draft.existingSwitch
        case .adapter: draft.adapter
        case .existingHub: draft.existingHub
        case .profile: draft.profile
        default: 0
        }
    }

    private mutating func select(_ field: WizardField, _ index: Int) {
        switch field {
        case .switchMode: draft.switchMode = index == 0 ? .existing : .create
        case .addressMode: draft.addressMode = index == 0 ? .static : .dhcp
        case .hubMode:
            draft.hubPlace = index == 2 ? .service : .local
            if index < 2 { draft.hubMode = index == 0 ? .existing : .create }
        case .hubJoin: draft.hubJoin = [HubJoin.enrolmentKey, .adminToken, .adminTokenNewHub][min(index, 2)]
        case .httpsMode: selectHTTPSMode(index)
        case .existingSwitch: draft.existingSwitch = index
        case .adapter: draft.adapter = index
        case .existingHub: draft.existingHub = index
        case .profile:
            let old = draft.chosenProfile(context)
            draft.profile = index
            applyProfileDefaults(replacing: old)
        default: break
        }
    }

    /// A new profile brings its memory and cores, unless the operator typed other values.
    private mutating func applyProfileDefaults(replacing old: SizingTable.Profile?) {
        guard let profile = draft.chosenProfile(context), let old else { return }
        let oldMemory = min(Int(old.memoryGB), context.machineMemoryGB ?? Int.max)
        let oldCores = min(old.cores, context.facts.cores ?? Int.max)
        if draft.memory.value == "\(oldMemory)" {
            draft.memory = TextField("\(min(Int(profile.memoryGB), context.machineMemoryGB ?? Int.max))")
        }
        if draft.cores.value == "\(oldCores)" {
            draft.cores = TextField("\(min(profile.cores, context.facts.cores ?? Int.max))")
        }
    }

    /// The text of a text field.
    package func text(_ field: WizardField) -> TextField {
        switch field {
        case .nodeName: draft.nodeName
        case .newSwitch: draft.newSwitch
        case .ip: draft.ip
        case .gateway: draft.gateway
        case .dns: draft.dns
        case .upstreamProxy: draft.upstreamProxy
        case .proxyPassword: draft.proxyPassword
        case .state: draft.state
        case .drivePath(let i): draft.drives.indices.contains(i) ? draft.drives[i].path : TextField()
        case .driveSize(let i): draft.drives.indices.contains(i) ? draft.drives[i].size : TextField()
        case .memory: draft.memory
        case .cores: draft.cores
        case .newHub: draft.newHub
        case .hubURL: draft.hubURL
        case .hubCertificate: draft.hubCertificate
        case .hubSecret: draft.hubSecret
        case .keyHub: draft.keyHub
        case .httpsListen, .httpsNames, .certificateFile, .keyFile, .chainFile: httpsText(field)
        default: TextField()
        }
    }

    private mutating func setText(_ field: WizardField, _ value: TextField) {
        switch field {
        case .nodeName: draft.nodeName = value
        case .newSwitch: draft.newSwitch = value
        case .ip: draft.ip = value
        case .gateway: draft.gateway = value
        case .dns: draft.dns = value
        case .upstreamProxy: draft.upstreamProxy = value
        case .proxyPassword: draft.proxyPassword = value
        case .state: draft.state = value
        case .drivePath(let i): draft.drives[i].path = value
        case .driveSize(let i): draft.drives[i].size = value
        case .memory: draft.memory = value
        case .cores: draft.cores = value
        case .newHub: draft.newHub = value
        case .hubURL: draft.hubURL = value
        case .hubCertificate: draft.hubCertificate = value
        case .hubSecret: draft.hubSecret = value
        case .keyHub: draft.keyHub = value
        case .httpsListen, .httpsNames, .certificateFile, .keyFile, .chainFile: setHTTPSText(field, value)
        default: break
        }
    }

    /// Whether a checkbox is ticked.
    package func isChecked(_ field: WizardField) -> Bool {
        switch field {
        case .continueAnyway: draft.continueAnyway
        case .restartUnderstood: draft.restartUnderstood
        case .belowProfileAccepted: draft.belowProfileAccepted
        case .networkWarningsAccepted: draft.networkWarningsAccepted
        default: false
        }
    }

    private mutating func toggle(_ field: WizardField) {
        switch field {
        case .continueAnyway: draft.continueAnyway.toggle()
        case .restartUnderstood: draft.restartUnderstood.toggle()
        case .belowProfileAccepted: draft.belowProfileAccepted.toggle()
        case .networkWarningsAccepted: draft.networkWarningsAccepted.toggle()
        default: break
        }
    }

    /// The focused field of the current step, if it has any.
    package var focusedField: WizardField? {
        let list = fields(step)
        guard !list.isEmpty else { return nil }
        return list[min(focus[step] ?? 0, list.count - 1)]
    }

    private var focusIndex: Int {
        get { min(focus[step] ?? 0, max(0, fields(step).count - 1)) }
        set { focus[step] = max(0, min(newValue, fields(step).count - 1)) }
    }

    // MARK: Keys

    /// Feeds one key; returns what the owner does next.
    package mutating func handle(_ key: WizardKey) -> WizardAction {
        if case .resize(let newCols, let newRows) = key {
            cols = newCols
            rows = newRows
            return .none
        }
        let tooSmall = cols < WizardRenderer.minimumCols || rows < WizardRenderer.minimumRows
        if tooSmall && overlay != .confirmQuit {
            // Keys typed blind would change answers nobody can see: only quitting works.
            if key == .ctrlC || key == .char("q") { overlay = .confirmQuit }
            return .none
        }
        if let overlay {
            switch overlay {
            case .help:
                self.overlay = nil
            case .confirmQuit:
                if key == .char("y") || key == .char("Y") { return .quit }
                // Back to the question the quit interrupted, if it is still open.
                self.overlay = context.savedAnswers != nil && !resumeAnswered ? .resumeDraft : nil
            case .resumeDraft:
                handleResume(key)
            }
            return .none
        }
        switch step {
        case .apply:
            return .none
        case .done:
            if let outcome, [.enter, .escape, .char("q"), .ctrlC].contains(key) { return .exit(outcome) }
            return .none
        case .review:
            return handleReview(key)
        default:
            return handleForm(key)
        }
    }

    private mutating func handleForm(_ key: WizardKey) -> WizardAction {
        let field = focusedField
        let fieldKind = field.map(kind)
        switch key {
        case .ctrlC:
            overlay = .confirmQuit
            return .none
        case .f1, .char("?"):
            overlay = .help
            return .none
        case .escape:
            goBack()
            return .none
        case .tab:
            focusIndex = (focusIndex + 1) % max(1, fields(step).count)
            return .none
        case .backTab:
            let count = max(1, fields(step).count)
            focusIndex = (focusIndex + count - 1) % count
            return .none
        case .enter:
            if let field, case .button = fieldKind, field == .addDrive {
                addDrive()
                return .none
            }
            // Enter walks to the next input (buttons are reached with Tab); after the last one it submits.
            let list = fields(step)
            if let next = list.indices.dropFirst(focusIndex + 1).first(where: { kind(list[$0]) != .button }) {
                focusIndex = next
                return .none
            }
            return submit()
        default:
            break
        }
        guard let field, let fieldKind else {
            if key == .char("q") { overlay = .confirmQuit }
            if key == .backspace { goBack() }
            return .none
        }
        switch fieldKind {
        case .text:
            var value = text(field)
            if key == .backspace && value.isEmpty {
                goBack()
                return .none
            }
            if key == .up { focusIndex -= 1; return .none }
            if key == .down { focusIndex += 1; return .none }
            if case .char(let character) = key,
                character.isNewline || character.asciiValue.map({ $0 < 0x20 || $0 == 0x7F }) == true
            {
                return .none
            }
            if value.edit(key) {
                setText(field, value)
                touched.insert(field)
                message = nil
                if case .drivePath = field { draft.measure(value.value, context: context) }
                if field == .state { draft.measure(value.value, context: context) }
                if [.certificateFile, .keyFile, .chainFile].contains(field) {
                    draft.https.inspect(value.value, context)
                }
            }
        case .choice(let count):
            switch key {
            case .up where selection(field) > 0: select(field, selection(field) - 1)
            case .down where selection(field) < count - 1: select(field, selection(field) + 1)
            case .up: focusIndex -= 1
            case .down: focusIndex += 1
            case .char(let character) where character.isNumber:
                if let number = character.wholeNumberValue, (1...count).contains(number) { select(field, number - 1) }
            case .char("q"): overlay = .confirmQuit
            case .backspace: goBack()
            default: break
            }
        case .checkbox:
            switch key {
            case .char(" "), .char("y"), .char("x"): toggle(field)
            case .up: focusIndex -= 1
            case .down: focusIndex += 1
            case .char("q"): overlay = .confirmQuit
            case .backspace: goBack()
            default: break
            }
        case .button:
            switch key {
            case .char(" "): addDrive()
            case .up: focusIndex -= 1
            case .char("q"): overlay = .confirmQuit
            case .backspace: goBack()
            default: break
            }
        }
        return .none
    }

    private mutating func addDrive() {
        draft.drives.append(.init(path: "", size: HostCheck.format(draft.chosenProfile(context)?.diskGB ?? 50)))
        focusIndex = fields(step).firstIndex(of: .drivePath(draft.drives.count - 1)) ?? focusIndex
    }

    private mutating func goBack() {
        message = nil
        if returnToReview {
            returnToReview = false
            step = .review
            return
        }
        if let previous = step.previous { step = previous }
    }

    /// Enter on the last field: the step's errors, or on to the next step.
    private mutating func submit() -> WizardAction {
        attempted.insert(step)
        if step == .welcome && context.check.isBlocked {
            message = "This machine cannot run a cache node. Press q to quit."
            return .none
        }
        // A file copied into place since the step was opened counts.
        if step == .https { draft.https.inspectFiles(context, state: draft.state.value) }
        if step == .storage {
            // An emptied extra drive is removed.
            let before = draft.drives.count
            draft.drives = draft.drives.enumerated().filter { $0.offset == 0 || !$0.element.path.isEmpty }.map(
                \.element
            )
            if draft.drives.count != before { focusIndex = 0 }
        }
        let errors = stepErrors(step)
        if let first = fields(step).firstIndex(where: { errors[$0] != nil }) {
            focusIndex = first
            message = "Fix the fields marked 'error' to go on."
            return .none
        }
        message = nil
        if step == .address, context.checkNetwork != nil, currentNetworkChecks == nil {
            // Nothing has changed yet: the network of these answers is checked before the wizard goes on.
            return .checkNetwork(draft.configuration(context))
        }
        if step == .hub, draft.hubPlace == .service, context.checkHub != nil, currentHubCheck == nil {
            // The address, the certificate and an admin token are checked before the wizard goes on.
            message = "Checking the hub service..."
            return .checkHub(hubCheckRequest)
        }
        if returnToReview {
            returnToReview = false
            step = .review
        } else if let next = step.next {
            step = next
        }
        return .none
    }

    private mutating func handleReview(_ key: WizardKey) -> WizardAction {
        let last = Self.reviewSteps.count
        switch key {
        case .ctrlC, .char("q"): overlay = .confirmQuit
        case .f1, .char("?"): overlay = .help
        case .escape, .backspace: step = .https
        case .up, .backTab: reviewSelection = max(0, reviewSelection - 1)
        case .down, .tab: reviewSelection = min(last, reviewSelection + 1)
        case .char(let character) where character.isNumber:
            if let number = character.wholeNumberValue, let target = WizardStep(rawValue: number),
                let index = Self.reviewSteps.firstIndex(of: target)
            {
                reviewSelection = index
                open(target)
            }
        case .enter:
            if reviewSelection < last {
                open(Self.reviewSteps[reviewSelection])
                return .none
            }
            let problems = allErrors()
            guard problems.isEmpty else {
                message =
                    "Some answers need fixing first: \(problems.map(\.step.title).uniqued().joined(separator: ", "))."
                return .none
            }
            let configuration = draft.secretConfiguration(context)
            if context.isDryRun { return .finish(configuration) }
            step = .apply
            applyLog = []
            outcome = nil
            return .apply(configuration)
        default: break
        }
        return .none
    }

    private mutating func open(_ target: WizardStep) {
        message = nil
        step = target
        // The step's first field: a digit typed next picks from its first list, as on a first visit.
        focus[target] = 0
        returnToReview = true
    }

    // MARK: Saved answers

    /// Whether the `resumeDraft` question was answered.
    private var resumeAnswered: Bool { resumed || resumeDeclined }

    private mutating func handleResume(_ key: WizardKey) {
        let count = Self.resumeOptions.count
        switch key {
        case .up: resumeSelection = max(0, resumeSelection - 1)
        case .down, .tab: resumeSelection = min(count - 1, resumeSelection + 1)
        case .char(let character) where character.isNumber:
            if let number = character.wholeNumberValue, (1...count).contains(number) { resumeSelection = number - 1 }
        case .ctrlC, .char("q"): overlay = .confirmQuit
        case .enter:
            overlay = nil
            if resumeSelection == 0, let saved = context.savedAnswers {
                draft = WizardDraft(context: context, saved: saved.configuration)
                resumed = true
            } else {
                resumeDeclined = true
            }
        default: break
        }
    }

    // MARK: Apply

    /// Adds one event of the apply step to the Apply screen.
    package mutating func record(_ progress: ApplyProgress) {
        applyLog.append(progress)
    }

    /// The apply step ended: show the Done screen.
    package mutating func finishApply(_ outcome: ApplyOutcome) {
        self.outcome = outcome
        step = .done
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
