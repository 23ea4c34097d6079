import XCTest
import Foundation
import Crypto
import TestSupport
import Model
import Registry
import Store
import Live

/// A folder with the two-community registry, a webhook secret file (0600) and a store; what the webhook tests share.
class WebhookTestCase: XCTestCase {
    var dir = ""
    var db: String { dir + "/cityeye.db" }
    var secretPath: String { dir + "/webhook.secret" }
    let secret = "k9ZbX2v7Qe1rTn4Lw8Hs0Jd6"
    let t0 = Instant(ms: 1_790_000_000_000)

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-webhooks")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        try writeSecret(secretPath, secret, mode: 0o600)
    }

    func writeSecret(_ path: String, _ text: String, mode: mode_t) throws {
        try (text + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, mode), 0)
    }

    /// The live config with `webhooks` (YAML lines under `webhooks:`; nil: no section).
    func configText(webhooks: String?) -> String {
        """
        broker: {host: 127.0.0.1, port: 1883, client_id: webhook-test}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: cityeye.db
        """ + (webhooks.map { "\nwebhooks:\n" + $0 } ?? "")
    }

    func loadConfig(webhooks: String?) throws(ConfigError) -> LiveConfig {
        try! configText(webhooks: webhooks).write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return try LiveConfig.load(path: dir + "/cityeye.yaml")
    }

    /// The message of the config error `webhooks` gives.
    func configError(_ webhooks: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try loadConfig(webhooks: webhooks)
            XCTFail("config accepted", file: file, line: line)
            return ""
        } catch {
            return error.description
        }
    }

    func target(port: Int, community: String = "changzhengqiao", maxAttempts: Int = 10, backoff: Int = 5) throws -> WebhookTarget {
        let c = try loadConfig(webhooks: "  - {community: \(community), url: \"http://127.0.0.1:\(port)/hooks/cityeye?src=test\", "
            + "secret_file: webhook.secret, max_attempts: \(maxAttempts), backoff_s: \(backoff), timeout_s: 5}\n")
        return try XCTUnwrap(c.webhooks.first)
    }

    /// A store whose webhook targets are `targets`, holding incident 1 (changzhengqiao, the smoke detector, dispatched
    /// to w-li) and its `raised` and `dispatched` audit rows, written at `t0`.
    func storeWithDispatchedIncident(targets: [String] = ["changzhengqiao"]) throws -> Store {
        let store = try Store(path: db)
        try store.setWebhookTargets(targets)
        let incident = Incident(id: 1, rule: "electricity.smoke", scenario: "electricity", severity: .critical,
                                key: "czq-smoke-01", device: "czq-smoke-01", subject: "czq-smoke-01", community: "changzhengqiao",
                                grid: "czq-g1", firstSeen: t0, lastSeen: t0, count: 1, condition: .active, status: .dispatched,
                                assignee: "w-li", escalated: false, overdue: false,
                                ackDue: t0 + 5 * Durations.minute, resolveDue: t0 + Durations.hour)
        try store.writeTransaction { tx in
            try tx.upsert([incident])
            try tx.append([
                AuditEntry(incident: 1, at: t0, actor: AuditEntry.engineActor, action: .raised, note: "electricity.smoke for czq-smoke-01"),
                AuditEntry(incident: 1, at: t0, actor: AuditEntry.engineActor, action: .dispatched, note: "to w-li"),
            ])
        }
        return store
    }

    func registry() throws -> Registry { try RegistryLoader.load(path: dir + "/registry.yaml") }

    /// The signature a receiver computes with the shared secret, independently of the sender's code.
    func expectedSignature(_ body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    func json(_ body: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }
}
