import CacheNodeTestSupport
import Foundation
import Testing

/// Every committed fuzz input (seeds and past crashes) goes through its parser again, without the fuzzer.
struct FuzzCorpusTests {
    static let corpus = CLIRunner.repository.appendingPathComponent("Fuzz/Corpus")

    static var targets: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted()) ?? []
    }

    @Test func everyTargetHasACorpus() {
        #expect(
            Self.targets == [
                "addresses", "answer-file", "exchange", "origin-allowlist", "range-header", "request-target",
            ]
        )
    }

    @Test(arguments: FuzzCorpusTests.targets)
    func theCorpusReplaysWithoutACrash(_ target: String) throws {
        let directory = Self.corpus.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map {
            directory.appendingPathComponent($0).path
        }
        #expect(!files.isEmpty)
        let binary = URL(fileURLWithPath: CLIRunner.binary).deletingLastPathComponent().appendingPathComponent(
            "cachenode-fuzz"
        ).path
        let result = try ChildProcess.run([binary, target] + files)
        let text = result.stdout + result.stderr
        #expect(result.status == 0, "\(text)")
        #expect(text == "\(target): \(files.count) inputs replayed\n")
    }
}
