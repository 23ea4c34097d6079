import XCTest
import TestSupport
@testable import Store
#if canImport(Glibc)
import Glibc
#endif

final class EngineLockTests: XCTestCase {
    var store = ""

    override func setUpWithError() throws {
        store = try temporaryPath("cityeye-lock") + "/x.db"
    }

    func testASecondEngineIsRefusedNamingTheHolder() throws {
        let first = try EngineLock(store: store, role: "run")
        XCTAssertEqual(EngineLock.holder(of: store)?.pid, getpid())
        do {
            _ = try EngineLock(store: store, role: "replay")
            XCTFail("a second engine on the same store must be refused")
        } catch {
            XCTAssertEqual(error.code, .held)
            XCTAssertEqual(error.holder?.pid, getpid())
            XCTAssertEqual(error.holder?.role, "run")
            XCTAssertTrue(error.description.contains("pid \(getpid())"), error.description)
        }
        first.release()
        XCTAssertNil(EngineLock.holder(of: store))
        XCTAssertNoThrow(try EngineLock(store: store, role: "replay"), "free again once released")
    }

    /// An OS lock dies with its process: a restart after kill -9 takes the store at once.
    func testAHolderThatIsGoneIsTakenOverAtOnce() throws {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        // -o: the lock stays with flock itself (not the sleep it starts), so killing flock ends the holder.
        holder.arguments = ["-o", store + ".lock", "sleep", "30"]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        var held = false
        for _ in 0..<100 {
            if (try? EngineLock(store: store, role: "run")) == nil { held = true; break }
            usleep(20_000)
        }
        XCTAssertTrue(held, "the other process holds the store")
        kill(holder.processIdentifier, SIGKILL)
        // No lease to wait out: free as soon as the kernel has ended the process.
        var taken: EngineLock?
        for _ in 0..<250 where taken == nil {
            taken = try? EngineLock(store: store, role: "run")
            if taken == nil { usleep(20_000) }
        }
        XCTAssertNotNil(taken, "taken over within 5 s of the holder's death")
    }
}
