import Foundation
import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary state directory and cache drive, with an engine configuration bound to 127.0.0.1:0.
package struct TestCacheDirectory: Sendable {
    package let root: String

    /// Creates a fresh directory under the system's temporary directory.
    package init(prefix: String = "cachenode-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer -> String in
            guard let result = mkdtemp(buffer.baseAddress!) else { return "/tmp/\(prefix)-\(getpid())" }
            return String(cString: result)
        }
        root = path
    }

    package var state: String { root + "/state" }
    package var drive: String { root + "/cache" }
    package var accessLog: String { state + "/logs/access.log" }

    /// A configuration for an engine on 127.0.0.1:0 with `extra_origins: [127.0.0.1]`. The origin read timeout is
    /// generous (60 s): the whole suite shares two cores and Swift's two pool threads, and while two long synchronous
    /// tests hold both, a fill cannot read its origin's answer for tens of seconds, which a 10 s timeout cut as an
    /// origin error; a test of a timeout sets its own.
    package func configuration(
        driveBytes: Int64 = 1 << 30,
        blockSize: Int = 64 * 1024,
        drives: Int = 1,
        listen: String = "127.0.0.1:0",
        admin: String = "127.0.0.1:0",
        readTimeoutSeconds: Int = 60,
        idleTimeoutSeconds: Int = 60,
        maxConnections: Int = 1000
    ) -> NodeConfiguration {
        NodeConfiguration(
            node: .init(name: "Test-1"),
            network: .init(switch: .init(mode: .existing, name: "br0"), address: .dhcp),
            storage: .init(
                state: state,
                drives: (0..<drives).map { index in
                    .init(path: drives == 1 ? drive : drive + "\(index)", sizeGB: Double(driveBytes) / 1_000_000_000)
                }
            ),
            resources: .init(memoryGB: 2, cores: 2, profile: "test"),
            hub: .init(mode: .create, name: "test-hub"),
            engine: .init(
                listen: listen,
                admin: admin,
                extraOrigins: ["127.0.0.1"],
                blockSizeKB: blockSize / 1024,
                maxConnections: maxConnections,
                originConnectTimeoutSeconds: 10,
                originReadTimeoutSeconds: readTimeoutSeconds,
                idleTimeoutSeconds: idleTimeoutSeconds
            )
        )
    }

    /// The YAML form of `configuration(...)` with fixed ports, for a child `cachenode serve`.
    package func yaml(listenPort: Int, adminPort: Int, blockSizeKB: Int = 64, driveGB: Double = 1) -> String {
        """
        version: 1
        node:
          name: Test-1
        network:
          switch:
            mode: existing
            name: br0
          address:
            mode: dhcp
        storage:
          state: \(state)
          drives:
            - path: \(drive)
              size_gb: \(driveGB)
        resources:
          memory_gb: 2
          cores: 2
          profile: test
        hub:
          mode: create
          name: test-hub
        engine:
          listen: 127.0.0.1:\(listenPort)
          admin: 127.0.0.1:\(adminPort)
          upstream_proxy: null
          extra_origins: [127.0.0.1]
          block_size_kb: \(blockSizeKB)
          origin_read_timeout_s: 10

        """
    }

    /// Removes the directory tree.
    package func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
