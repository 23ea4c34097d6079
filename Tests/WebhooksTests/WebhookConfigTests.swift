import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Live

/// `webhooks:` in the live config: what is accepted, and each refusal says what to change.
final class WebhookConfigTests: WebhookTestCase {
    func testAFullEntryIsRead() throws {
        let c = try loadConfig(webhooks: """
              - community: changzhengqiao
                url: "http://hooks.example.org:8080/city/eye?token=abc"
                secret_file: webhook.secret
                timeout_s: 3
                max_attempts: 4
                backoff_s: 2
              - {community: "*", url: "http://127.0.0.1/all", secret_file: \(secretPath)}
            """)
        XCTAssertEqual(c.webhooks.count, 2)
        let w = c.webhooks[0]
        XCTAssertEqual(w.url, WebhookURL(host: "hooks.example.org", port: 8080, target: "/city/eye?token=abc"))
        XCTAssertEqual("\(w.url)", "http://hooks.example.org:8080/city/eye", "the query (a token) is not logged")
        XCTAssertEqual(w.secret, Array(secret.utf8), "the trailing newline is not part of the secret")
        XCTAssertEqual([w.timeoutSeconds, w.maxAttempts, w.backoffSeconds], [3, 4, 2])
        XCTAssertEqual([w.backoff(afterAttempt: 1), w.backoff(afterAttempt: 2), w.backoff(afterAttempt: 3)], [2_000, 4_000, 8_000])
        XCTAssertEqual(c.webhooks[1].url, WebhookURL(host: "127.0.0.1", port: 80, target: "/all"))
        let v6 = try WebhookURL.parse("http://[::1]:8080/x").get()
        XCTAssertEqual(v6, WebhookURL(host: "::1", port: 8080, target: "/x"))
        XCTAssertEqual("\(v6)", "http://[::1]:8080/x")
        XCTAssertEqual(try WebhookURL.parse("HTTP://Example.org").get().target, "/")
        XCTAssertEqual(WebhookTarget.forCommunity("wenhui", in: c.webhooks)?.community, "*")
        XCTAssertEqual(WebhookTarget.forCommunity("changzhengqiao", in: c.webhooks)?.community, "changzhengqiao")
        XCTAssertTrue(try loadConfig(webhooks: nil).webhooks.isEmpty)
    }

    func testBadURLsAreRefusedNamingTheEntry() {
        let cases: [(String, String)] = [
            ("ftp://127.0.0.1/x", "webhooks[0].url `ftp://127.0.0.1/x` has scheme `ftp`: only http is supported"),
            ("https://hooks.example.org/x", "https is not supported"),
            ("http:///nohost", "has no host"),
            ("not a url", "is not a URL"),
            ("http://127.0.0.1:0/x", "has port 0"),
            ("http://127.0.0.1/x#frag", "has a #fragment"),
        ]
        for (url, expected) in cases {
            let message = configError("  - {community: changzhengqiao, url: \"\(url)\", secret_file: webhook.secret}\n")
            XCTAssertTrue(message.contains(expected), "\(url): \(message)")
            XCTAssertTrue(message.contains("cityeye.yaml:"), "the file and line: \(message)")
        }
        let withPassword = configError("  - {community: changzhengqiao, url: \"http://user:hunter2@127.0.0.1/x\", secret_file: webhook.secret}\n")
        XCTAssertTrue(withPassword.contains("carries a user or password"), withPassword)
        XCTAssertFalse(withPassword.contains("hunter2"), "the password is not repeated: \(withPassword)")
    }

    func testSecretFilesThatAreMissingOpenToOthersOrShortAreRefused() throws {
        let missing = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: nope.secret}\n")
        XCTAssertTrue(missing.contains("webhooks[0].secret_file: cannot read \(dir)/nope.secret: No such file"), missing)

        try writeSecret(dir + "/open.secret", secret, mode: 0o644)
        let open = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: open.secret}\n")
        XCTAssertTrue(open.contains("has mode 644, open to every user of the machine"), open)
        XCTAssertTrue(open.contains("chmod 600 \(dir)/open.secret"), open)
        XCTAssertFalse(open.contains(secret), "the secret is never in a message")

        try writeSecret(dir + "/short.secret", "tiny", mode: 0o600)
        let short = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: short.secret}\n")
        XCTAssertTrue(short.contains("holds 4 bytes; a webhook secret needs at least 16"), short)

        try writeSecret(dir + "/group.secret", secret, mode: 0o640)
        XCTAssertNoThrow(try loadConfig(webhooks: "  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: group.secret}\n"))
    }

    func testUnknownAndMissingKeysAndBadNumbersAreRefused() {
        let unknown = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: webhook.secret, secret: x}\n")
        XCTAssertTrue(unknown.contains("secret"), unknown)
        XCTAssertTrue(unknown.contains("unknown key"), unknown)
        let noURL = configError("  - {community: changzhengqiao, secret_file: webhook.secret}\n")
        XCTAssertTrue(noURL.contains("webhooks[0]: missing required key `url`"), noURL)
        let noSecret = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\"}\n")
        XCTAssertTrue(noSecret.contains("missing required key `secret_file`"), noSecret)
        let attempts = configError("  - {community: changzhengqiao, url: \"http://127.0.0.1/x\", secret_file: webhook.secret, max_attempts: 0}\n")
        XCTAssertTrue(attempts.contains("webhooks[0].max_attempts must be 1–100, got 0"), attempts)
        let twice = configError("""
              - {community: changzhengqiao, url: "http://127.0.0.1/x", secret_file: webhook.secret}
              - {community: changzhengqiao, url: "http://127.0.0.1/y", secret_file: webhook.secret}

            """)
        XCTAssertTrue(twice.contains("webhooks[1].community: `changzhengqiao` has a webhook already"), twice)
        let notAList = configError("  community: changzhengqiao\n")
        XCTAssertTrue(notAList.contains("webhooks"), notAList)
    }

    func testACommunityNotInTheRegistryStopsTheEngineFromStarting() throws {
        let config = try loadConfig(webhooks: "  - {community: nowhere, url: \"http://127.0.0.1/x\", secret_file: webhook.secret}\n")
        XCTAssertThrowsError(try LiveEngine(config: config, source: InMemorySource(), log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("webhooks[0].community: no community `nowhere` in the registry"), "\(error)")
        }
    }
}
