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
        if let overlay = wizard.overlay {
            switch overlay {
            case .help:
                body.add(ScreenLine("Help: \(wizard.step.title)", .emphasis))
                body.blank()
                for line in wizard.step.help { body.add(ScreenLine(line)) }
                body.blank()
                body.add(ScreenLine("Press any key to return.", .dim))
            case .confirmQuit:
                body.add(ScreenLine("Quit setup?", .emphasis))
                body.blank()
                body.add(ScreenLine(quitConsequence(wizard)))
                body.blank()
                body.add(ScreenLine("y quits, any other key returns to the wizard.", .dim))
            }
        } else {
            switch wizard.step {
            case .welcome: welcome(wizard, &body)
            case .review: review(wizard, &body)
            case .apply, .done: applyAndDone(wizard, &body)
            default: form(wizard, &body)
            }
        }

        var lines: [ScreenLine] = []
        let title = " CacheNode setup - \(wizard.step.title)" + (wizard.context.isDryRun ? " (dry run)" : "")
        lines.append(ScreenLine(title.padded(cols), .title))
        lines.append(ScreenLine())
        let height = rows - 4
        let start = body.lines.count <= height ? 0 : max(0, min(body.focusLine - height / 2, body.lines.count - height))
        let visible = Array(body.lines.dropFirst(start).prefix(height))
        lines += visible
        lines += Array(repeating: ScreenLine(), count: height - visible.count)
        if let message = wizard.message, wizard.overlay == nil {
            lines.append(ScreenLine(message, .error))
        } else {
            lines.append(ScreenLine())
        }
        let counter = "step \(wizard.step.rawValue) of \(WizardStep.allCases.count)"
        let keys = footerKeys(wizard)
        lines.append(ScreenLine([Span(keys.padded(cols - counter.count - 1), .dim), Span(" " + counter, .dim)]))
        var cursor: (Int, Int)?
        if let position = body.cursor, position.0 >= start, position.0 < start + height {
            cursor = (position.0 - start + 2, min(position.1, cols - 1))
        }
        return Screen(cols: cols, rows: rows, lines: lines.map { $0.clipped(to: cols) }, cursor: cursor)
    }

    private static func quitConsequence(_ wizard: Wizard) -> String {
        wizard.step == .done ? "The install is finished." : "Nothing has been changed on this machine."
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
        if wizard.overlay != nil { return " any key returns" }
        switch wizard.step {
        case .review: return " arrows row  Enter open  2-7 go to step  Esc back  F1 help  q quit"
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
        let titleWidth = min(33, (check.rows.map(\.title.count).max() ?? 10) + 2)
        let measuredWidth = max(12, wizard.cols - titleWidth - 8 * check.profiles.count)
        var header = "REQUIREMENT".padded(titleWidth) + "MEASURED".padded(measuredWidth)
        for id in check.profiles { header += id.uppercased().padded(8) }
        body.add(ScreenLine(header, .emphasis))
        for row in check.rows {
            var spans = [Span(row.title.padded(titleWidth - 1) + " "), Span(row.measured.padded(measuredWidth - 1) + " ")]
            for id in check.profiles {
                let status = row.verdict(for: id)?.status ?? .pass
                spans.append(Span(label(status).padded(8), style(status)))
            }
            body.add(ScreenLine(spans))
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
            body.add(ScreenLine("\(warnings.count) warning\(warnings.count == 1 ? "" : "s") for the \(profile) profile; nothing blocks.", .warning))
            fields(wizard, &body)
        }
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
            body.add(ScreenLine("This machine: \(cores) cores, \(memory) memory. Cache drives: \(HostCheck.format(wizard.draft.totalDriveGB)) GB in total."))
            body.blank()
        case .hub:
            body.add(ScreenLine("A hub groups cache nodes and collects their reports."))
            body.blank()
        default:
            break
        }
        fields(wizard, &body)
        switch wizard.step {
        case .network where wizard.draft.switchMode == .create:
            let adapters = context.adapters
            let adapter = adapters.indices.contains(wizard.draft.adapter) ? adapters[wizard.draft.adapter].value : "the adapter"
            body.blank()
            body.add(ScreenLine("warning: creating \(wizard.draft.newSwitch.value) restarts the network on \(adapter);", .warning))
            body.add(ScreenLine("         connections over it drop for a few seconds.", .warning))
        case .address:
            body.blank()
            body.add(ScreenLine("note: a dynamic address can change on restart, and clients would lose the cache;", .dim))
            body.add(ScreenLine("      static is recommended.", .dim))
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
                var spans = [Span(label, isFocused ? .emphasis : .plain), Span("[" + value.text + "]", isFocused ? .selected : .plain)]
                if let info = measurement(wizard, field) { spans.append(Span("  " + info, .dim)) }
                if isFocused { body.cursor = (body.lines.count, label.count + 1 + value.cursor) }
                body.add(ScreenLine(spans))
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
                    let text = "    \(mark) \(index + 1)  \(option.value)"
                    var spans = [Span(text, index == selected && isFocused ? .selected : .plain)]
                    if !option.detail.isEmpty { spans.append(Span("  " + option.detail, .dim)) }
                    body.add(ScreenLine(spans))
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
        let configuration = wizard.draft.configuration(context)
        body.add(ScreenLine("Every answer. Enter on a row, or its step number, changes it."))
        body.blank()
        let problems = wizard.allErrors()
        let changes = context.installed.map { configuration.changes(from: $0) }
        for (index, step) in Wizard.reviewSteps.enumerated() {
            let selected = wizard.reviewSelection == index
            if selected { body.focusLine = body.lines.count }
            let lead = "\(selected ? ">" : " ") \(step.rawValue) " + reviewLabel(step).padded(12)
            body.add(ScreenLine(lead + reviewValue(step, configuration), selected ? .selected : .plain), hanging: lead.count)
            for problem in problems where problem.step == step {
                body.add(ScreenLine("      error: \(problem.field?.label ?? step.title): \(problem.message)", .error))
            }
            for change in changes ?? [] where reviewStep(change.key) == step {
                body.add(ScreenLine("      \(change.key): \(change.old) -> \(change.new)", .warning))
            }
        }
        body.add(ScreenLine("    " + "Listen".padded(12) + "\(configuration.engine.listen) (what clients' DOCacheHost points at)"))
        if let changes, changes.isEmpty { body.add(ScreenLine("      No setting changes from the installed node.", .dim)) }
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
            let proxy = c.engine.upstreamProxy.map { "; upstream proxy \(ProxyURL.redacting($0))" } ?? ""
            guard address.mode == .static else { return "dynamic (DHCP)" + proxy }
            return "static \(address.ip ?? "-"), gateway \(address.gateway ?? "-"), DNS \(address.dns.joined(separator: ", "))"
                + proxy
        case .storage:
            let drives = c.storage.drives.map { "\($0.path) \(HostCheck.format($0.sizeGB)) GB" }.joined(separator: ", ")
            return "state \(c.storage.state); cache \(drives)"
        case .resources:
            return "\(c.resources.profile ?? "-") profile, \(c.resources.memoryGB) GB memory, \(c.resources.cores) cores"
        default:
            return "\(c.hub.mode == .existing ? "existing" : "create") \(c.hub.name)"
        }
    }

    private static func reviewStep(_ key: String) -> WizardStep? {
        if key.hasPrefix("node.") { return .name }
        if key.hasPrefix("network.switch") { return .network }
        if key.hasPrefix("network.address") || key == "engine.upstream_proxy" { return .address }
        if key.hasPrefix("storage.") { return .storage }
        if key.hasPrefix("resources.") { return .resources }
        if key.hasPrefix("hub.") { return .hub }
        return nil
    }

    private static func applyAndDone(_ wizard: Wizard, _ body: inout Body) {
        body.add(ScreenLine("Installing node \(wizard.draft.configuration(wizard.context).node.name):"))
        body.blank()
        var rows: [(key: String, line: ScreenLine)] = []
        func put(_ key: String, _ line: ScreenLine) {
            if let index = rows.firstIndex(where: { $0.key == key }) { rows[index].line = line } else { rows.append((key, line)) }
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
        for row in rows { body.add(row.line) }
        guard let outcome = wizard.outcome else { return }
        body.blank()
        switch outcome {
        case let .installed(cacheHost, policyDirectory, warnings):
            for warning in warnings { body.add(ScreenLine("warning: \(warning)", .warning)) }
            body.add(ScreenLine("The node is installed.", .ok))
            body.add(ScreenLine([Span("Point clients at it: DOCacheHost = "), Span(cacheHost, .emphasis)]))
            body.add(ScreenLine("Client policy files: \(policyDirectory)"))
        case let .unchanged(message, _):
            body.add(ScreenLine(message))
        case let .failed(step, message, code):
            body.add(ScreenLine("The install failed" + (step.map { " at \($0)" } ?? "") + ".", .error))
            for line in message.split(separator: "\n") { body.add(ScreenLine(String(line), .error)) }
            if code == 4 { body.add(ScreenLine("Every change of this run was rolled back.")) }
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
private struct Body {
    var width: Int
    var lines: [ScreenLine] = []
    var focusLine = 0
    var cursor: (Int, Int)?

    /// Adds a line; a single-style line too wide for the screen wraps at spaces, indented like its start (or by
    /// `hanging`, so that a labelled value continues under the value).
    mutating func add(_ line: ScreenLine, hanging: Int? = nil) {
        guard line.spans.count == 1, let span = line.spans.first, span.text.count > width else {
            lines.append(line)
            return
        }
        let indent = hanging
            ?? span.text.prefix { $0 == " " }.count + (span.text.drop { $0 == " " }.hasPrefix("error: ") ? 7 : 0)
        var rest = Substring(span.text)
        var first = true
        while !rest.isEmpty {
            let prefix = first ? "" : String(repeating: " ", count: indent)
            let room = max(10, width - prefix.count)
            var piece = rest.prefix(room)
            if piece.count < rest.count, let space = piece.lastIndex(of: " "), piece.distance(from: piece.startIndex, to: space) > indent {
                piece = rest[rest.startIndex..<space]
                rest = rest[rest.index(after: space)...]
            } else {
                rest = rest.dropFirst(piece.count)
            }
            lines.append(ScreenLine(prefix + piece, span.style))
            first = false
        }
    }
    mutating func blank() { lines.append(ScreenLine()) }
}
