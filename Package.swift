// swift-tools-version:6.1
import PackageDescription

/// An install runs its steps in order, each waiting for its commands, on the thread that drives it (the wizard's
/// terminal loop is on the main actor): async functions stay on their caller's actor unless marked `@concurrent`.
let installSettings: [SwiftSetting] = [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]

let package = Package(
    name: "CacheNode",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cachenode", targets: ["cachenode"]),
        .executable(name: "cachenode-fuzz", targets: ["FuzzTargets"]),
        .executable(name: "cachenode-index-bench", targets: ["IndexBenchmark"]),
        .executable(name: "cachenode-hub-bench", targets: ["HubBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // Without its Foundation trait: the installer passes bytes and strings, and the static binary stays smaller.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(name: "CNCurses", path: "Sources/CNCurses"),
        // glibc's malloc tuning (mallopt, malloc_trim), which Swift's Glibc module does not carry.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(
            name: "CacheNodeCore",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "Installer",
            dependencies: [
                "CacheNodeCore",
                "CacheNodeX509",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: installSettings
        ),
        .target(
            name: "Management",
            dependencies: [
                "CacheNodeCore",
                "CacheNodeX509",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CacheNodeX509",
            dependencies: [
                "CacheNodeCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "CacheProtocol", dependencies: ["CacheNodeCore"]),
        .target(
            name: "CacheEngine",
            dependencies: [
                "CMalloc",
                "CacheNodeCore",
                "CacheNodeX509",
                "CacheProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CacheNodeTestSupport",
            dependencies: [
                "CacheNodeCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(name: "WizardUI", dependencies: ["CacheNodeCore", "CNCurses"], swiftSettings: installSettings),
        .executableTarget(
            name: "cachenode",
            dependencies: [
                "CacheNodeCore",
                "CacheEngine",
                "Installer",
                "Management",
                "WizardUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: installSettings
        ),
        .executableTarget(name: "FuzzTargets", dependencies: ["CacheNodeCore", "CacheProtocol"]),
        .executableTarget(
            name: "IndexBenchmark",
            dependencies: [
                "CacheEngine",
                "CacheNodeCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "HubBenchmark",
            dependencies: [
                "Management",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "CacheNodeCoreTests", dependencies: ["CacheNodeCore"]),
        .testTarget(
            name: "InstallerTests",
            dependencies: ["Installer", "CacheNodeTestSupport"],
            exclude: ["Fixtures", "Golden"]
        ),
        .testTarget(
            name: "ManagementTests",
            dependencies: [
                "CacheNodeCore",
                "CacheNodeTestSupport",
                "Management",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CacheEngineTests",
            dependencies: [
                "CacheEngine",
                "CacheProtocol",
                "CacheNodeTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["cachenode", "FuzzTargets", "CacheNodeTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "WizardUITests", dependencies: ["WizardUI", "CacheNodeCore"], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v6]
)
