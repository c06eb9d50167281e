import CacheNodeCore

/// Turns the wizard's state into screen text for a terminal size. Pure: tests compare its output with snapshots.
package enum WizardRenderer {
    package static let minimumCols = 80
    package static let minimumRows = 24
    static let labelWidth = 24

    package static func render(_ wizard: Wizard) -> Screen {
        let cols = max(1, wizard.cols)
        let rows = max(1, wizard.rows)
        if cols < minimumCols || rows < minimumRows {
            return tooSmall(wizard, cols: cols, rows: rows)
        }
        var body = Body(width: cols)
        switch wizard.step {
        case .welcome: welcome(wizard, &body)
        case .review: review(wizard, &body)
        case .apply, .done: applyAndDone(wizard, &body)
        default: form(wizard, &body)
        }

        var lines: [ScreenLine] = []
        let title = " CacheNode setup - \(wizard.step.title)" + (wizard.context.isDryRun ? " (dry run)" : "")
        lines.append(ScreenLine(title.padded(cols), .title))
        lines.append(ScreenLine())
        var message = [ScreenLine()]
        if let text = wizard.message, wizard.overlay == nil {
            message = Array(ScreenLine(text, .error).wrapped(to: cols, indent: 0).prefix(3))
        }
        let height = rows - 3 - message.count
        let start = body.lines.count <= height ? 0 : max(0, min(body.focusLine - height / 2, body.lines.count - height))
        var visible = Array(body.lines.dropFirst(start).prefix(height))
        visible += Array(repeating: ScreenLine(), count: height - visible.count)
        if let overlay = wizard.overlay {
            visible = drawBox(box(overlay, wizard, width: cols), over: visible, cols: cols)
        }
        lines += visible
        lines += message
        let counter = "step \(wizard.step.rawValue) of \(WizardStep.allCases.count)"
        let keys = footerKeys(wizard)
        lines.append(ScreenLine([Span(keys.padded(cols - counter.count - 1), .dim), Span(" " + counter, .dim)]))
        var cursor: (Int, Int)?
        if wizard.overlay == nil, let position = body.cursor, position.0 >= start, position.0 < start + height {
            cursor = (position.0 - start + 2, min(position.1, cols - 1))
        }
        return Screen(cols: cols, rows: rows, lines: lines.map { $0.clipped(to: cols) }, cursor: cursor)
    }

    // MARK: Boxes

    /// What an overlay box says: its title and lines, wrapped to fit inside the box.
    private static func box(
        _ overlay: Wizard.Overlay,
        _ wizard: Wizard,
        width cols: Int
    ) -> (title: String, lines: [ScreenLine]) {
        let inner = min(cols - 8, 68)
        var content: [ScreenLine] = []
        func add(_ line: ScreenLine, indent: Int = 0) { content += line.wrapped(to: inner, indent: indent) }
        let title: String
        switch overlay {
        case .help:
            title = "Help: \(wizard.step.title)"
            for (index, paragraph) in wizard.step.help.enumerated() {
                if index > 0 { content.append(ScreenLine()) }
                add(ScreenLine(paragraph))
            }
            content.append(ScreenLine())
            add(ScreenLine("Press any key to return.", .dim))
        case .confirmQuit:
            title = "Quit setup?"
            add(ScreenLine(quitConsequence(wizard)))
            if let kept = draftNote(wizard) {
                content.append(ScreenLine())
                add(ScreenLine(kept))
            }
            content.append(ScreenLine())
            add(ScreenLine("y quits, any other key returns to the wizard.", .dim))
        case .resumeDraft:
            title = "Answers from an earlier run"
            let saved = wizard.context.savedAnswers
            let when = saved.map { " (\($0.savedAt))" } ?? ""
            add(ScreenLine("An earlier setup did not finish\(when). Its answers are saved in:"))
            add(ScreenLine("  " + (saved?.path ?? "").shortenedInMiddle(to: inner - 2), .emphasis))
            content.append(ScreenLine())
            for (index, option) in Wizard.resumeOptions.enumerated() {
                let selected = index == wizard.resumeSelection
                let text = "\(selected ? ">" : " ") \(selected ? "(*)" : "( )") \(index + 1)  \(option)"
                add(ScreenLine(text, selected ? .selected : .plain), indent: 9)
            }
            if let proxy = saved?.configuration.engine.upstreamProxy, ProxyURL(proxy)?.user != nil {
                content.append(ScreenLine())
                add(ScreenLine("The proxy password is never saved: step 4 asks for it again.", .dim))
            }
        }
        return (title, content)
    }

    /// A box with `content` drawn over the middle of `lines`, in `┌─┐│└┘` (the terminal draws them with the
    /// line-drawing characters it has).
    private static func drawBox(
        _ box: (title: String, lines: [ScreenLine]),
        over lines: [ScreenLine],
        cols: Int
    ) -> [ScreenLine] {
        let contentWidth = max(box.lines.map(\.width).max() ?? 0, box.title.count + 2)
        let width = min(cols - 2, contentWidth + 4)
        let content = Array(box.lines.prefix(max(0, lines.count - 2)))
        let left = (cols - width) / 2
        let top = max(0, (lines.count - content.count - 2) / 3)
        let heading = "─ \(box.title) "
        // A blank margin around the box keeps the step's text behind it from touching its border.
        let blank = ScreenLine(String(repeating: " ", count: width + 2))
        let rule = String(repeating: "─", count: max(0, width - 2 - heading.count))
        var drawn = [blank, ScreenLine(" ┌" + heading + rule + "┐ ")]
        for line in content {
            let padding = String(repeating: " ", count: max(0, width - 4 - line.width))
            drawn.append(ScreenLine([Span(" │ ")] + line.spans + [Span(padding + " │ ")]))
        }
        drawn.append(ScreenLine(" └" + String(repeating: "─", count: width - 2) + "┘ "))
        drawn.append(blank)
        var result = lines
        let first = top - 1
        for (offset, line) in drawn.enumerated() where first + offset >= 0 && first + offset < result.count {
            result[first + offset] = result[first + offset].overlaid(line, at: left - 1)
        }
        return result
    }

    private static func quitConsequence(_ wizard: Wizard) -> String {
        wizard.step == .done ? "The install is finished." : "Nothing has been changed on this machine."
    }

    /// Where the answers go when setup ends now, if they are kept.
    static func draftNote(_ wizard: Wizard) -> String? {
        guard wizard.keepsDraft, let path = wizard.context.draftPath else { return nil }
        return "Your answers are kept in \(path); the next setup offers to start from them."
    }

    private static func tooSmall(_ wizard: Wizard, cols: Int, rows: Int) -> Screen {
        var text = [
            "The terminal is \(cols)x\(rows).",
            "Enlarge it to at least \(minimumCols)x\(minimumRows)",
            "to continue setup.",
            "",
            wizard.overlay == .confirmQuit ? "Quit setup? y quits." : "Ctrl-C quits.",
        ]
        let top = max(0, (rows - text.count) / 2)
        text = Array(repeating: "", count: top) + text
        var lines = text.prefix(rows).map { line -> ScreenLine in
            let pad = max(0, (cols - line.count) / 2)
            return ScreenLine(String(repeating: " ", count: pad) + line, .emphasis).clipped(to: cols)
        }
        lines += Array(repeating: ScreenLine(), count: rows - lines.count)
        return Screen(cols: cols, rows: rows, lines: lines, cursor: nil)
    }

    private static func footerKeys(_ wizard: Wizard) -> String {
        switch wizard.overlay {
        case .help: return " any key returns"
        case .confirmQuit: return " y quits  any other key returns"
        case .resumeDraft: return " arrows/1-2 pick  Enter choose  q quit"
        case nil: break
        }
        switch wizard.step {
        case .review: return " arrows row  Enter open  2-8 go to step  Esc back  F1 help  q quit"
        case .apply: return " installing..."
        case .done: return " Enter exit"
        default: break
        }
        switch wizard.focusedField.map(wizard.kind) {
        case .text: return " Enter next  Tab field  ^U clear  Esc back  F1 help  ^C quit"
        case .choice: return " arrows/1-9 pick  Enter next  Tab field  Esc back  F1 help  q quit"
        case .checkbox: return " Space tick  Enter next  Tab field  Esc back  F1 help  q quit"
        case .button: return " Enter add  Tab field  Esc back  F1 help  q quit"
        case nil: return " Enter next  Esc back  F1 help  q quit"
        }
    }

    // MARK: Steps

    private static func welcome(_ wizard: Wizard, _ body: inout Body) {
        let context = wizard.context
        let check = context.check
        body.add(ScreenLine("This machine, as the probe measured it, against the sizing profiles:"))
        body.blank()
        // A title stays on one line (a long path shortened in the middle); a measured value wraps inside its column.
        let titleWidth = min(33, (check.rows.map(\.title.count).max() ?? 10) + 2)
        let verdictWidth = 7
        let measuredWidth = max(12, wizard.cols - titleWidth - verdictWidth * check.profiles.count)
        var header = "REQUIREMENT".padded(titleWidth) + "MEASURED".padded(measuredWidth)
        for id in check.profiles { header += id.uppercased().padded(verdictWidth) }
        body.add(ScreenLine(header, .emphasis))
        for row in check.rows {
            let titles = [oneLine(row.title, width: titleWidth - 1)]
            let measured = row.measured.wrappedWords(measuredWidth - 1)
            for index in 0..<max(titles.count, measured.count) {
                let title = index < titles.count ? titles[index] : ""
                let value = index < measured.count ? measured[index] : ""
                var spans = [Span(title.padded(titleWidth)), Span(value.padded(measuredWidth))]
                if index == 0 {
                    for id in check.profiles {
                        let status = row.verdict(for: id)?.status ?? .pass
                        spans.append(Span(label(status).padded(verdictWidth), style(status)))
                    }
                }
                body.add(ScreenLine(spans))
            }
        }
        let notes = check.rows.compactMap { row in row.note.map { "\(row.title): \($0)" } }
        if !notes.isEmpty {
            body.blank()
            for note in notes { body.add(ScreenLine("  " + note, .dim)) }
        }
        body.blank()
        if check.isBlocked {
            body.add(ScreenLine("This machine cannot run a cache node:", .error))
            for reason in check.blockingReasons { body.add(ScreenLine("  - " + reason, .error)) }
            return
        }
        if let fitting = check.fittingProfile {
            body.add(ScreenLine("Fits the \(fitting) profile."))
        } else {
            body.add(ScreenLine("Fits no profile fully."))
        }
        let warnings = wizard.welcomeWarnings
        if warnings.isEmpty {
            body.add(ScreenLine("Every requirement passes. Press Enter to begin."))
        } else {
            let profile = context.defaultProfile?.id ?? ""
            body.add(
                ScreenLine(
                    "\(warnings.count) warning\(warnings.count == 1 ? "" : "s") for the \(profile) profile; nothing blocks.",
                    .warning
                )
            )
            fields(wizard, &body)
        }
    }

    /// A row title on one line: a long last word (the path of "Free disk at PATH") is shortened in the middle.
    private static func oneLine(_ title: String, width: Int) -> String {
        guard title.count > width, let space = title.lastIndex(of: " ") else {
            return title.shortenedInMiddle(to: width)
        }
        let head = String(title[...space])
        guard width - head.count >= 12 else { return title.shortenedInMiddle(to: width) }
        return head + String(title[title.index(after: space)...]).shortenedInMiddle(to: width - head.count)
    }

    private static func form(_ wizard: Wizard, _ body: inout Body) {
        let context = wizard.context
        switch wizard.step {
        case .name:
            if let installed = context.installed {
                body.add(ScreenLine([Span("Node name".padded(labelWidth)), Span(installed.node.name, .emphasis)]))
                body.add(ScreenLine("  fixed: a node keeps its name after the install (the hub knows it by it)", .dim))
                body.blank()
                body.add(ScreenLine("Press Enter to go on."))
                return
            }
            body.add(ScreenLine("The name the hub and the reports know this node by. It cannot be changed later."))
            body.blank()
        case .network:
            body.add(ScreenLine("The switch (Linux bridge) clients reach the node through."))
            body.blank()
        case .address:
            body.add(ScreenLine("How the node gets its address."))
            body.blank()
        case .storage:
            body.add(ScreenLine("Where the state and the cache live, and how much each drive may use."))
            body.blank()
        case .resources:
            let facts = context.facts
            let memory = facts.memoryBytes.map { HostCheck.format(Double($0) / 1_000_000_000) + " GB" } ?? "unknown"
            let cores = facts.cores.map(String.init) ?? "unknown"
            body.add(
                ScreenLine(
                    "This machine: \(cores) cores, \(memory) memory. Cache drives: \(HostCheck.format(wizard.draft.totalDriveGB)) GB in total."
                )
            )
            body.blank()
        case .hub:
            body.add(ScreenLine("A hub groups cache nodes and collects their reports."))
            body.blank()
        case .https:
            body.add(
                ScreenLine("HTTPS lets the cache serve what clients download over TLS (Intune Win32 apps, Teams).")
            )
            body.blank()
        default:
            break
        }
        fields(wizard, &body)
        switch wizard.step {
        case .network where wizard.draft.switchMode == .create:
            let adapters = context.adapters
            let adapter =
                adapters.indices.contains(wizard.draft.adapter) ? adapters[wizard.draft.adapter].value : "the adapter"
            body.blank()
            body.add(
                ScreenLine(
                    "warning: creating \(wizard.draft.newSwitch.value) restarts the network on \(adapter);",
                    .warning
                )
            )
            body.add(ScreenLine("         connections over it drop for a few seconds.", .warning))
        case .address:
            body.blank()
            if let checks = wizard.currentNetworkChecks, !checks.isEmpty {
                body.add(ScreenLine("Network checks (each gives up after its timeout):"))
                for check in checks {
                    let waits = check.timeoutSeconds > 0 ? " (\(check.timeoutSeconds) s)" : ""
                    let text = "\(check.status == .pass ? "[ ok ]" : "[warn]") \(check.title): \(check.detail)\(waits)"
                    body.add(ScreenLine(text, check.status == .pass ? .ok : .warning))
                }
            } else {
                body.add(
                    ScreenLine("note: a dynamic address can change on restart, and clients would lose the cache;", .dim)
                )
                body.add(ScreenLine("      static is recommended.", .dim))
            }
        case .https:
            httpsNotes(wizard, &body)
        case .resources:
            let warnings = wizard.resourceWarnings
            if !warnings.isEmpty { body.blank() }
            for warning in warnings { body.add(ScreenLine("warning: " + warning, .warning)) }
        default:
            break
        }
    }

    /// Every field of the step: label, value, the rule while focused, the error when shown.
    private static func fields(_ wizard: Wizard, _ body: inout Body) {
        let errors = wizard.visibleErrors(wizard.step)
        let focused = wizard.focusedField
        for field in wizard.fields(wizard.step) {
            let isFocused = field == focused
            let marker = isFocused ? "> " : "  "
            if isFocused { body.focusLine = body.lines.count }
            switch wizard.kind(field) {
            case .text:
                let value = wizard.text(field)
                let label = marker + (field.label + ":").padded(labelWidth - 2)
                let info = measurement(wizard, field).map { "  " + $0 }
                // The value and its measurement on one line when they fit; else the measurement goes below, and a
                // value still too long shows the part around the cursor (focused) or is shortened in the middle.
                let room = wizard.cols - label.count - 2
                let infoFits = info.map { value.text.count + $0.count <= room } ?? true
                let shown = fit(
                    value,
                    width: room,
                    focused: isFocused,
                    hidden: field == .proxyPassword || field == .hubSecret
                )
                var spans = [
                    Span(label, isFocused ? .emphasis : .plain),
                    Span("[" + shown.text + "]", isFocused ? .selected : .plain),
                ]
                if let info, infoFits { spans.append(Span(info, .dim)) }
                if isFocused { body.cursor = (body.lines.count, label.count + 1 + shown.cursor) }
                body.add(ScreenLine(spans))
                if let info, !infoFits { body.add(ScreenLine(String(repeating: " ", count: labelWidth) + info, .dim)) }
                if isFocused, let rule = wizard.rule(field) {
                    body.add(ScreenLine(String(repeating: " ", count: labelWidth) + rule, .dim))
                }
            case .choice:
                body.add(ScreenLine(marker + field.label, isFocused ? .emphasis : .plain))
                let options = wizard.options(field)
                let selected = wizard.selection(field)
                if options.isEmpty { body.add(ScreenLine("    (none)", .dim)) }
                for (index, option) in options.enumerated() {
                    let mark = index == selected ? "(*)" : "( )"
                    let lead = "    \(mark) \(index + 1)  "
                    var spans = [Span(lead + option.value, index == selected && isFocused ? .selected : .plain)]
                    if !option.detail.isEmpty { spans.append(Span("  " + option.detail, .dim)) }
                    body.add(ScreenLine(spans), hanging: lead.count)
                }
            case .checkbox:
                let box = wizard.isChecked(field) ? "[x] " : "[ ] "
                body.add(ScreenLine(marker + box + field.label, isFocused ? .selected : .plain))
            case .button:
                body.add(ScreenLine(marker + field.label, isFocused ? .selected : .plain))
            }
            if let error = errors[field] {
                body.add(ScreenLine(String(repeating: " ", count: labelWidth) + "error: " + error, .error))
            }
        }
    }

    /// The part of a text field's value that fits `width` columns, and where the cursor is in it.
    static func fit(
        _ field: TextField,
        width: Int,
        focused: Bool,
        hidden: Bool = false
    ) -> (text: String, cursor: Int) {
        let text = hidden ? String(repeating: "*", count: field.text.count) : displayed(field.text)
        guard text.count > width, width > 2 else { return (text, field.cursor) }
        guard focused else { return (text.shortenedInMiddle(to: width), 0) }
        let characters = Array(text)
        let cursor = field.cursor
        if cursor <= width - 2 {
            return (String(characters[0..<(width - 1)]) + "…", cursor)
        }
        let tailStart = characters.count - (width - 1)
        if cursor >= tailStart {
            return ("…" + String(characters[tailStart...]), 1 + cursor - tailStart)
        }
        let start = cursor - (width - 2) / 2
        return ("…" + String(characters[start..<(start + width - 2)]) + "…", 1 + cursor - start)
    }

    /// A value as the screen shows it: a password in a proxy URL as asterisks of the same length.
    static func displayed(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        let hidden = text.distance(from: text.index(after: colon), to: at)
        return String(text[...colon]) + String(repeating: "*", count: hidden) + String(text[at...])
    }

    /// Free space beside a path, measured as it is typed.
    private static func measurement(_ wizard: Wizard, _ field: WizardField) -> String? {
        let path: String
        switch field {
        case .state: path = wizard.draft.state.value
        case .drivePath(let index): path = wizard.draft.drives[index].path.value
        default: return nil
        }
        guard let storage = wizard.draft.measured[path], let free = storage.freeBytes else { return nil }
        let kind = storage.rotational.map { $0 ? ", HDD" : ", SSD" } ?? ""
        return "free \(HostCheck.format(Double(free) / 1_000_000_000)) GB\(kind)"
    }

    private static func review(_ wizard: Wizard, _ body: inout Body) {
        let context = wizard.context
        // With the proxy password, so that Review shows one was given (as ****).
        let configuration = wizard.draft.secretConfiguration(context)
        body.add(ScreenLine("Every answer. Enter on a row, or its step number, changes it."))
        body.blank()
        let problems = wizard.allErrors()
        let changes = context.installed.map { wizard.draft.configuration(context).changes(from: $0) }
        for (index, step) in Wizard.reviewSteps.enumerated() {
            let selected = wizard.reviewSelection == index
            if selected { body.focusLine = body.lines.count }
            let lead = "\(selected ? ">" : " ") \(step.rawValue) " + reviewLabel(step).padded(12)
            let value =
                step == .https
                ? httpsReviewValue(wizard, configuration.engine.https) : reviewValue(step, configuration)
            body.add(
                ScreenLine(lead + value, selected ? .selected : .plain),
                hanging: lead.count
            )
            for problem in problems where problem.step == step {
                body.add(ScreenLine("      error: \(problem.field?.label ?? step.title): \(problem.message)", .error))
            }
            for change in changes ?? [] where reviewStep(change.key) == step {
                body.add(ScreenLine("      \(change.key): \(change.old) -> \(change.new)", .warning))
            }
            if step == .address, changes != nil, wizard.draft.proxyPasswordGiven != nil {
                body.add(ScreenLine("      upstream proxy password: a new one replaces the installed one", .warning))
            }
        }
        body.add(
            ScreenLine(
                "    " + "Listen".padded(12) + "\(configuration.engine.listen) (what clients' DOCacheHost points at)"
            )
        )
        // The engine's addresses belong to no step: `--listen` and `--admin-listen` change them.
        for change in changes ?? [] where ["engine.listen", "engine.admin"].contains(change.key) {
            body.add(ScreenLine("      \(change.key): \(change.old) -> \(change.new)", .warning))
        }
        if let changes, changes.isEmpty {
            body.add(ScreenLine("      No setting changes from the installed node.", .dim))
        }
        body.blank()
        let selected = wizard.reviewSelection == Wizard.reviewSteps.count
        if selected { body.focusLine = body.lines.count }
        let action = context.isDryRun ? "Finish: write the answers (dry run, nothing is installed)" : "Install now"
        body.add(ScreenLine("\(selected ? ">" : " ") [ \(action) ]", selected ? .selected : .emphasis))
    }

    private static func reviewLabel(_ step: WizardStep) -> String {
        switch step {
        case .name: "Node name"
        case .network: "Switch"
        case .address: "Address"
        case .storage: "Storage"
        case .resources: "Resources"
        case .https: "HTTPS"
        default: "Hub"
        }
    }

    private static func reviewValue(_ step: WizardStep, _ c: NodeConfiguration) -> String {
        switch step {
        case .name:
            return c.node.name
        case .network:
            let networkSwitch = c.network.switch
            return networkSwitch.mode == .existing
                ? "existing \(networkSwitch.name)" : "create \(networkSwitch.name) over \(networkSwitch.adapter ?? "-")"
        case .address:
            let address = c.network.address
            var proxy = c.engine.upstreamProxy.map { "; upstream proxy \(ProxyURL.redacting($0))" } ?? ""
            if let url = c.engine.upstreamProxy, ProxyURL(url)?.password == nil,
                let file = c.engine.upstreamProxyPasswordFile
            {
                proxy += " (password in \(file))"
            }
            guard address.mode == .static else { return "dynamic (DHCP)" + proxy }
            return
                "static \(address.ip ?? "-"), gateway \(address.gateway ?? "-"), DNS \(address.dns.joined(separator: ", "))"
                + proxy
        case .storage:
            let drives = c.storage.drives.map { "\($0.path) \(HostCheck.format($0.sizeGB)) GB" }.joined(separator: ", ")
            return "state \(c.storage.state); cache \(drives)"
        case .resources:
            return
                "\(c.resources.profile ?? "-") profile, \(c.resources.memoryGB) GB memory, \(c.resources.cores) cores"
        default:
            let hub = c.hub
            guard hub.mode != .unlinked else { return "none: this node joins no hub" }
            let verb = hub.mode == .existing ? "existing" : "create"
            guard let url = hub.url else { return "\(verb) \(hub.name) on this machine" }
            let trust =
                hub.fingerprint.map { " (certificate \($0.prefix(20))...)" } ?? hub.caFile.map { " (CA \($0))" } ?? ""
            return "\(verb) \(hub.name) at \(url)\(trust)"
        }
    }

    private static func reviewStep(_ key: String) -> WizardStep? {
        if key.hasPrefix("node.") { return .name }
        if key.hasPrefix("network.switch") { return .network }
        if key.hasPrefix("network.address") || key == "engine.upstream_proxy" { return .address }
        if key.hasPrefix("storage.") { return .storage }
        if key.hasPrefix("resources.") { return .resources }
        if key.hasPrefix("hub.") { return .hub }
        if key.hasPrefix("engine.https.") { return .https }
        return nil
    }

    private static func applyAndDone(_ wizard: Wizard, _ body: inout Body) {
        body.add(ScreenLine("Installing node \(wizard.draft.configuration(wizard.context).node.name):"))
        body.blank()
        var rows: [(key: String, line: ScreenLine)] = []
        func put(_ key: String, _ line: ScreenLine) {
            if let index = rows.firstIndex(where: { $0.key == key }) {
                rows[index].line = line
            } else {
                rows.append((key, line))
            }
        }
        for event in wizard.applyLog {
            switch event {
            case .started(let step): put(step, ScreenLine("[....] \(step)"))
            case .finished(let step, let detail): put(step, ScreenLine("[ ok ] \(step): \(detail)", .ok))
            case .waiting(let step, let detail): put(step, ScreenLine("[wait] \(step): \(detail)", .warning))
            case .failed(let step, let detail): put(step, ScreenLine("[FAIL] \(step): \(detail)", .error))
            case .rollingBack: put("rollback", ScreenLine("[....] rolling back every change of this run", .warning))
            case .rolledBack(let problems):
                put(
                    "rollback",
                    problems.isEmpty
                        ? ScreenLine("[ ok ] rolled back", .ok)
                        : ScreenLine("[FAIL] rolled back, except: \(problems.joined(separator: "; "))", .error)
                )
            }
        }
        // A long line continues under its text, past the "[ ok ] " status.
        for row in rows { body.add(row.line, hanging: 7) }
        // The newest progress, and then the outcome, stay in view when the screen is short.
        defer { body.focusLine = body.lines.count - 1 }
        guard let outcome = wizard.outcome else { return }
        body.blank()
        switch outcome {
        case let .installed(cacheHost, policyDirectory, warnings):
            for warning in warnings { body.add(ScreenLine("warning: \(warning)", .warning), hanging: 9) }
            body.add(ScreenLine("The node is installed.", .ok))
            body.add(ScreenLine([Span("Point clients at it: DOCacheHost = "), Span(cacheHost, .emphasis)]))
            body.add(ScreenLine("Client policy files: \(policyDirectory)"))
            if let next = httpsNextStep(wizard) { body.add(ScreenLine(next), hanging: 7) }
        case let .unchanged(message, _):
            body.add(ScreenLine(message))
        case let .failed(step, message, code):
            body.add(ScreenLine("The install failed" + (step.map { " at \($0)" } ?? "") + ".", .error))
            for line in message.split(separator: "\n") { body.add(ScreenLine(String(line), .error)) }
            if code == 4 { body.add(ScreenLine("Every change of this run was rolled back.")) }
            if let kept = draftNote(wizard) { body.add(ScreenLine(kept)) }
        }
        body.blank()
        body.add(ScreenLine("Press Enter to exit.", .dim))
    }

    private static func label(_ status: CheckStatus) -> String {
        switch status {
        case .pass: "PASS"
        case .warning: "WARN"
        case .blocking: "BLOCK"
        }
    }

    private static func style(_ status: CheckStatus) -> TextStyle {
        switch status {
        case .pass: .ok
        case .warning: .warning
        case .blocking: .error
        }
    }
}

/// The lines between title and footer, with the line to keep in view and the text cursor.
struct Body {
    var width: Int
    var lines: [ScreenLine] = []
    var focusLine = 0
    var cursor: (Int, Int)?

    /// Adds a line; a line too wide for the screen wraps at spaces, indented like its start (or by `hanging`, so
    /// that a labelled value continues under the value).
    mutating func add(_ line: ScreenLine, hanging: Int? = nil) {
        guard line.width > width else {
            lines.append(line)
            return
        }
        let text = line.text
        let indent = hanging ?? text.prefix { $0 == " " }.count + (text.drop { $0 == " " }.hasPrefix("error: ") ? 7 : 0)
        lines += line.wrapped(to: width, indent: indent)
    }
    mutating func blank() { lines.append(ScreenLine()) }
}
