import Mustache

/// The `Templates/` directory: every file the installer writes is rendered from one of these.
package struct TemplateSet: Sendable {
    package var directory: String
    private var templates: [String: MustacheTemplate]

    /// Loads every `*.mustache` below `directory`, named by relative path without the extension.
    package init(directory: String) throws(InstallError) {
        self.directory = directory
        var templates: [String: MustacheTemplate] = [:]
        for relative in FileSystem.listFiles(below: directory) where relative.hasSuffix(".mustache") {
            let name = String(relative.dropLast(".mustache".count))
            let text: String
            do {
                text = try TextFile.read(directory + "/" + relative)
            } catch {
                throw .template(name: name, problem: "\(error)")
            }
            do {
                // Configuration files are plain text: nothing is HTML-escaped.
                templates[name] = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
            } catch {
                throw .template(name: name, problem: "does not parse: \(error)")
            }
        }
        guard !templates.isEmpty else { throw .template(name: directory, problem: "no templates found") }
        self.templates = templates
    }

    package var names: [String] { templates.keys.sorted() }

    package func render(_ name: String, _ context: [String: Any]) throws(InstallError) -> String {
        guard let template = templates[name] else { throw .template(name: name, problem: "missing from \(directory)") }
        return template.render(context)
    }
}
