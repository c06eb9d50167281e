import Foundation
import Installer
import Testing

struct TextFileTests {
    @Test func refusesWhatIsNotASmallTextFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = directory.appendingPathComponent("big")
        try Data(repeating: 0x41, count: 2048).write(to: big)
        let binary = directory.appendingPathComponent("binary")
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: binary)
        let good = directory.appendingPathComponent("good")
        try Data("héllo\n".utf8).write(to: good)

        #expect(try TextFile.read(good.path) == "héllo\n")
        #expect(throws: TextFileError.tooLarge(path: big.path, bytes: 2048, limit: 1024)) {
            try TextFile.read(big.path, limit: 1024)
        }
        #expect(throws: TextFileError.notText(path: binary.path)) { try TextFile.read(binary.path) }
        #expect(throws: TextFileError.notAFile(path: directory.path)) { try TextFile.read(directory.path) }
        #expect(
            throws: TextFileError.cannotOpen(path: directory.path + "/missing", reason: "No such file or directory")
        ) {
            try TextFile.read(directory.path + "/missing")
        }
    }
}

struct ServiceStateTests {
    @Test func systemctlShowIsRead() throws {
        let state = try #require(
            ServiceState.parse(
                """
                LoadState=loaded
                ActiveState=active
                SubState=running
                MainPID=4242
                User=cachenode
                UnitFileState=enabled
                MemoryMax=8589934592
                CPUQuotaPerSecUSec=2s

                """
            )
        )
        #expect(state.mainPID == 4242)
        #expect(
            state.summary == "cachenode.service active (running), enabled, user cachenode, MemoryMax 8G, CPUQuota 200%"
        )
    }

    @Test func anUnknownUnitIsNoService() {
        #expect(ServiceState.parse("LoadState=not-found\nActiveState=inactive\n") == nil)
        let stopped = ServiceState.parse(
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nMemoryMax=infinity\nCPUQuotaPerSecUSec=infinity\n"
        )
        #expect(stopped?.mainPID == nil)
        #expect(
            stopped?.summary == "cachenode.service failed (failed), user root, MemoryMax unlimited, CPUQuota unlimited"
        )
    }
}
