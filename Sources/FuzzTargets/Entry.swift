import Foundation

#if FUZZING
    /// libFuzzer's entry: the target named by `CACHENODE_FUZZ_TARGET`.
    @_cdecl("LLVMFuzzerTestOneInput")
    func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
        selectedTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
    ) -> Int32

    /// The executable's entry under SwiftPM, which names it after the module: hands over to libFuzzer's driver.
    @_cdecl("FuzzTargets_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
    }

    let selectedTarget: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["CACHENODE_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget.named(name) else {
            fatalError("CACHENODE_FUZZ_TARGET must name one of: \(FuzzTarget.all.map(\.name).joined(separator: ", "))")
        }
        return target
    }()
#else
    /// Without the fuzzer: replays saved inputs through a target, for regression tests and for reproducing a crash.
    @main
    enum Replay {
        static func main() {
            let arguments = Array(CommandLine.arguments.dropFirst())
            guard arguments.count >= 1, let target = FuzzTarget.named(arguments[0]) else {
                FileHandle.standardError.write(
                    Data(
                        "usage: cachenode-fuzz TARGET FILE... (targets: \(FuzzTarget.all.map(\.name).joined(separator: ", ")))\n"
                            .utf8
                    )
                )
                exit(2)
            }
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                    exit(2)
                }
                target.run(Array(data))
            }
            print("\(target.name): \(arguments.count - 1) inputs replayed")
        }
    }
#endif
