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
        let sizing = try ResourceLocator.sizingTable()
        let text: String
        do {
            text = try TextFile.read(file, limit: AnswerFile.maximumBytes)
        } catch .tooLarge(_, let bytes, let limit) {
            throw CommandFailure(.invalid, "\(file):1: the file is \(bytes) bytes, too large for an answer file (at most \(limit) bytes)")
        } catch .notText {
            throw CommandFailure(.invalid, "\(file):1: the file holds binary data, not YAML text")
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        do {
            let configuration = try AnswerFile.load(text, sizing: sizing)
            print("\(file): valid (node \(configuration.node.name), hub \(configuration.hub.name))")
        } catch {
            throw CommandFailure(.invalid, error.formatted(file: file))
        }
    }
}
