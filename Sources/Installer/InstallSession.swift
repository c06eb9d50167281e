#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// The resources an install needs, loaded once: sizing, templates, client policy.
package struct InstallResources: Sendable {
    package var sizing: SizingTable
    package var templates: TemplateSet
    package var policy: ClientPolicy

    /// Reads `resources/sizing.yaml`, `resources/client-policy.yaml` and every template in `templates`.
    package init(resources: String, templates: String) throws(InstallError) {
        do {
            sizing = try SizingTable(yaml: try TextFile.read(resources + "/sizing.yaml"))
        } catch {
            throw .resource(problem: "\(resources)/sizing.yaml: \(error)")
        }
        let policyText: String
        do {
            policyText = try TextFile.read(resources + "/client-policy.yaml")
        } catch {
            throw .resource(problem: "\(error)")
        }
        policy = try ClientPolicy(text: policyText)
        self.templates = try TemplateSet(directory: templates)
    }
}

/// What is installed under a root: the configuration as the operator gave it, and the manifest.
package struct InstalledNode: Sendable {
    package var configuration: NodeConfiguration
    package var manifest: InstallManifest?
    package var layout: InstallLayout

    /// Finds an install under `root` by its state directory (the default, or the one given).
    package static func find(
        root: String,
        state: String = NodeConfiguration.Storage.defaultState,
        sizing: SizingTable
    ) throws(InstallError) -> InstalledNode? {
        let layout = InstallLayout(root: root, state: state)
        guard FileSystem.exists(layout.configuration) else { return nil }
        let text: String
        do {
            text = try TextFile.read(layout.configuration)
        } catch {
            throw .file(path: layout.configuration, problem: "\(error)")
        }
        let installed: NodeConfiguration
        do {
            installed = try AnswerFile.load(text, sizing: sizing)
        } catch {
            throw .file(
                path: layout.configuration,
                problem: "the installed configuration is damaged:\n" + error.formatted(file: layout.configuration)
            )
        }
        return InstalledNode(
            configuration: installed.mappingPaths(layout.logical),
            manifest: try InstallManifest.read(layout.installManifest),
            layout: layout
        )
    }
}

/// The host name clients can reach this node by, for `DOCacheHost` when the address is dynamic.
package func currentHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Whether netplan manages the network of the machine under `root`.
package func usesNetplan(root: String) -> Bool {
    let layout = InstallLayout(root: root, state: "/")
    return FileSystem.isDirectory(layout.onDisk("/etc/netplan"))
        && FileSystem.exists(layout.onDisk("/usr/sbin/netplan"))
}
