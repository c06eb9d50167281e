import ArgumentParser
import CacheNodeCore
import Installer

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check an answer file and print every problem, each with its line and key path.",
        discussion: "Exit status: 0 when the file is valid, 2 when it is not."
    )

    @Argument(help: "The answer file (YAML), as written by `cachenode setup --write-answers`.")
    var file: String

    func run() throws {
        let configuration = try AnswerFileInput.load(file, sizing: try ResourceLocator.sizingTable())
        print("\(file): valid (node \(configuration.node.name), hub \(configuration.hub.name))")
    }
}
