/// The screens of DESIGN.md, in order; the raw value is the step number the footer shows.
package enum WizardStep: Int, CaseIterable, Comparable, Sendable {
    case welcome = 1
    case name
    case network
    case address
    case storage
    case resources
    case hub
    case https
    case review
    case apply
    case done

    package static func < (lhs: WizardStep, rhs: WizardStep) -> Bool { lhs.rawValue < rhs.rawValue }

    package var title: String {
        switch self {
        case .welcome: "Welcome and hardware check"
        case .name: "Cache node name"
        case .network: "Network switch"
        case .address: "Address"
        case .storage: "Storage"
        case .resources: "Resources for the node"
        case .hub: "Hub"
        case .https: "HTTPS"
        case .review: "Review"
        case .apply: "Apply"
        case .done: "Done"
        }
    }

    /// The step before this one; `nil` on the first.
    var previous: WizardStep? { WizardStep(rawValue: rawValue - 1) }

    /// The step after this one; `nil` on the last.
    var next: WizardStep? { WizardStep(rawValue: rawValue + 1) }

    /// What F1 or `?` shows on this step, one paragraph per entry.
    package var help: [String] {
        switch self {
        case .welcome:
            [
                "The probe measured this machine; each row is judged against both sizing profiles.",
                "PASS meets the profile, WARN works but below the recommendation, BLOCK stops the install.",
                "Warnings need an explicit 'continue anyway' (Space) before Enter goes on. "
                    + "`cachenode check` prints the same table.",
            ]
        case .name:
            [
                "The name the hub and the reports know this cache node by: letters, digits and hyphens, "
                    + "no spaces, unique in its hub.",
                "It cannot be changed after the install.",
            ]
        case .network:
            [
                "The node serves clients through a switch (a Linux bridge): use an existing one, or create one "
                    + "over a network adapter.",
                "Creating a switch moves the adapter's address to the switch: the network restarts on that adapter "
                    + "and connections over it drop for a few seconds.",
                "Pick list items with the arrows or by typing their number.",
            ]
        case .address:
            [
                "Static: address/prefix (10.0.0.50/24), the default gateway inside that subnet, and DNS servers.",
                "Dynamic (DHCP): the address can change on restart, and clients' DOCacheHost would then point at "
                    + "the wrong place; static is recommended.",
                "Upstream proxy: only when this network reaches the internet through a web proxy. The engine sends "
                    + "its downloads to it as plain HTTP requests (no CONNECT), as the user the URL names, if any.",
                "Proxy password: asked for when the URL names a user, shown as *; setup keeps it in a file of its own "
                    + "(0600), never in the answers or the configuration.",
            ]
        case .storage:
            [
                "State: configuration, index and logs. Drives: where the cache keeps content, each with the space "
                    + "it may use in GB. Free space is measured as you type a path.",
                "Tab to 'add a drive' and press Enter for another drive; empty a drive's path to remove it.",
            ]
        case .resources:
            [
                "Memory and cores for the node; the defaults come from the profile that fits the machine.",
                "More than the machine has is refused; less than the profile needs a 'continue anyway'.",
            ]
        case .hub:
            [
                "A hub groups cache nodes and collects their reports.",
                "Yes: pick a known hub. No: name a new one; it is created when the node is installed. "
                    + "Hub names never contain \"microsoft\".",
                "On this machine: the local registry (cachenode hub ...). A hub service on another machine: its "
                    + "address and certificate fingerprint (`cachenode hub info` there) or a CA file, checked at once; "
                    + "then a one-time key from `cachenode node create`, or the admin token (setup creates the node).",
                "Either way the install registers and enrols the node, and the engine reports from its first minute. "
                    + "Keys and tokens are never saved.",
            ]
        case .https:
            [
                "Intune Win32 apps and Teams content come over HTTPS: without it, those downloads skip the cache and "
                    + "go to the CDN. Plain HTTP serves the rest either way, on the same DOCacheHost name.",
                "A request now: the install makes a key (0600) and a certificate request (CSR) for the names below, "
                    + "in <state>/tls. Have your organisation's CA sign request.csr, then run `cachenode cert install "
                    + "CERT`. Until then HTTPS refuses connections and the node reports degraded "
                    + "(certificate_missing).",
                "Use these files: a certificate (PEM, its chain in it or in a chain file) and its private key, both "
                    + "readable here. Renewals written to the same paths are picked up without a restart.",
                "Names: what clients put in DOCacheHost; blank is the node's own DOCacheHost value. Clients must "
                    + "trust the CA that signed the certificate (deploy it by Group Policy or Intune).",
            ]
        case .review:
            [
                "Every answer on one screen. Enter on a row, or its step number, goes back to that step; "
                    + "the wizard returns here when the step is done.",
                "The last line installs (with --dry-run: ends the wizard and writes the answers).",
            ]
        case .apply:
            ["Each action of the install as it runs; a failure rolls back every change of this run."]
        case .done:
            ["Point Windows clients' DOCacheHost policy at the address shown; the policy files are ready."]
        }
    }
}
