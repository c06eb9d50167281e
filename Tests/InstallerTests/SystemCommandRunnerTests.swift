import CacheNodeCore
import Foundation
import Installer
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real commands of an install (systemctl, nft, networkctl) run through `SystemCommandRunner`: what a caller
/// gets back is the shell's `$?` and what the command printed, whatever the command does.
struct SystemCommandRunnerTests {
    let runner = SystemCommandRunner()

    @Test func theExitStatusAndBothStreamsComeBack() async {
        let result = await runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output.contains("out\n") && result.output.contains("err\n"), "\(result.output)")
    }

    @Test func aCommandThatIsNotThereSaysSoWith127() async {
        let result = await runner.run(["cachenode-no-such-command", "--version"])
        #expect(result.status == 127)
        #expect(result.output.hasPrefix("cachenode-no-such-command: "), "\(result.output)")
    }

    @Test func aCommandEndedByASignalGives128PlusTheSignal() async {
        #expect(await runner.run(["sh", "-c", "kill -TERM $$"]).status == 128 + SIGTERM)
    }

    @Test func standardInputIsEmpty() async throws {
        // A command that reads its input (a prompt, `cat`) must not wait on the terminal the wizard runs in. This
        // process's own input is a pipe holding bytes meanwhile: a command that inherited it would count them.
        var pipe: [Int32] = [0, 0]
        try #require(Glibc.pipe(&pipe) == 0)
        _ = write(pipe[1], "not for the command\n", 20)
        close(pipe[1])
        let saved = dup(0)
        dup2(pipe[0], 0)
        close(pipe[0])
        let result = await runner.run(["sh", "-c", "wc -c; echo done"])
        dup2(saved, 0)
        close(saved)
        #expect(result.status == 0)
        #expect(result.output.split(separator: "\n") == ["0", "done"])
    }

    @Test func longOutputIsCutAtTheLimitAndTheCommandStillFinishes() async {
        // 200 kB is more than a pipe holds: an unread rest would leave the command blocked in write.
        let result = await runner.run(["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; exit 4"])
        #expect(result.status == 4)
        #expect(result.output.utf8.count == 65536 && result.output.allSatisfy { $0 == "a" })
    }

    /// Commands run side by side (a support bundle while a status is read) each get their own answer.
    @Test func commandsRunAtOnceEachGetTheirOwnAnswer() async {
        let runner = runner
        let outputs = await withTaskGroup(of: (Int, String).self) { group in
            for index in 0..<16 {
                group.addTask { (index, await runner.run(["sh", "-c", "sleep 0.1; echo \(index)"]).output) }
            }
            var outputs: [Int: String] = [:]
            for await (index, output) in group { outputs[index] = output }
            return outputs
        }
        #expect(outputs.count == 16)
        #expect(outputs.allSatisfy { $0.value == "\($0.key)\n" })
    }
}
