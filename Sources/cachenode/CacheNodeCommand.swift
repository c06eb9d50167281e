import ArgumentParser

@main
struct CacheNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachenode",
        abstract: "A Delivery Optimization cache node for Windows devices, and its installer."
    )
}
