import XCTest
import Foundation
import TestSupport
@testable import MQTT

/// The engine's edge with credentials and TLS, against a real mosquitto configured for them.
final class SecurityTests: XCTestCase {
    func shell(_ script: String, in folder: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-ec", script]
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw MQTTError("`\(script)` failed: \(text)") }
    }

    func tool(_ name: String) -> Bool {
        ((ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/sbin").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// Subscribes with `settings`, publishes one message with `publisher`, returns what arrived (or the events seen).
    func roundTrip(_ settings: MQTTSettings, publisher: MQTTSettings) async throws -> (payloads: [String], events: [String]) {
        let sub = try MQTTSubscriber(settings: settings, batched: true)
        defer { sub.stop() }
        try sub.start()
        // Nothing is published until the engine is subscribed; give up after 8 s (a refused login never is).
        let (subscribed, seen) = await waitSubscribed(sub, timeout: 8)
        guard subscribed else { return ([], seen) }
        let pub = try MQTTPublisher(settings: publisher)
        try pub.connect(timeout: 5)
        try pub.publish(topic: "cityeye/czq/gate-1", payload: Array("hello".utf8), qos: 1)
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        return (try await firstPayloads(sub, timeout: 10), seen)
    }

    func testPasswordBrokerTakesTheEngineWithCredentialsAndRefusesOthers() async throws {
        guard tool("mosquitto_passwd") else { throw XCTSkip("mosquitto_passwd is not installed (apt-get install mosquitto)") }
        let dir = try temporaryPath("cityeye-sec")
        try shell("mosquitto_passwd -c -b passwd cityeye s3cret && chmod 644 passwd", in: dir)
        let broker = try MosquittoBroker(extraConfig: "allow_anonymous false\npassword_file \(dir)/passwd")
        defer { broker.stop() }
        let publisher = MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: [],
                                     username: "cityeye", password: "s3cret")

        let good = try await roundTrip(MQTTSettings(port: broker.port, clientID: "engine", cleanSession: true,
                                                    username: "cityeye", password: "s3cret"), publisher: publisher)
        XCTAssertEqual(good.payloads, ["hello"], "\(good.events)")

        let anonymous = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "anon", cleanSession: true, topics: []))
        XCTAssertThrowsError(try anonymous.connect(timeout: 5)) { XCTAssertTrue("\($0)".contains("refused"), "\($0)") }
        anonymous.disconnect()

        let wrong = try await roundTrip(MQTTSettings(port: broker.port, clientID: "engine2", cleanSession: true,
                                                     username: "cityeye", password: "wrong"), publisher: publisher)
        XCTAssertEqual(wrong.payloads, [])
        XCTAssertTrue(wrong.events.contains { $0.contains("disconnected") }, "a refused login is reported: \(wrong.events)")
    }

    func testEngineSubscribesOverTLSWithTheConfiguredCA() async throws {
        guard tool("openssl") else { throw XCTSkip("openssl is not installed; it makes the test certificates") }
        let dir = try temporaryPath("cityeye-sec")
        try shell("""
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=cityeye-test-ca
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.ext
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other-ca
            chmod 644 *.key
            """, in: dir)
        let tlsPort = try MosquittoBroker.freePort()
        let broker = try MosquittoBroker(extraConfig: """
            listener \(tlsPort) 127.0.0.1
            cafile \(dir)/ca.crt
            certfile \(dir)/server.crt
            keyfile \(dir)/server.key
            """)
        defer { broker.stop() }
        let plainPublisher = MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: [])

        let good = try await roundTrip(MQTTSettings(port: tlsPort, clientID: "engine", cleanSession: true,
                                                    tls: TLSFiles(caFile: "\(dir)/ca.crt")), publisher: plainPublisher)
        XCTAssertEqual(good.payloads, ["hello"], "\(good.events)")

        let untrusted = try await roundTrip(MQTTSettings(port: tlsPort, clientID: "engine2", cleanSession: true,
                                                         tls: TLSFiles(caFile: "\(dir)/other.crt")), publisher: plainPublisher)
        XCTAssertEqual(untrusted.payloads, [], "a broker certificate from another CA must not be trusted")
        XCTAssertTrue(untrusted.events.contains { $0.contains("TLS") && $0.contains("\(dir)/other.crt") && $0.contains("retrying") },
                      "the engine says why it cannot connect, and keeps trying: \(untrusted.events)")
    }
}
