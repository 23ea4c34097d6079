import CSQLite
import Model

/// A person's web account as stored: the password's bcrypt hash, never the password.
public struct AccountRecord: Sendable, Equatable {
    public var worker: String
    public var passwordHash: String
    public var setAt: Instant
    /// The operating-system user who set the password.
    public var setBy: String
    public init(worker: String, passwordHash: String, setAt: Instant, setBy: String) {
        self.worker = worker; self.passwordHash = passwordHash; self.setAt = setAt; self.setBy = setBy
    }
}

extension Store {
    /// Sets (or replaces) a person's password hash.
    public func saveAccount(_ a: AccountRecord) throws {
        try writeTransaction { tx in
            let s = try tx.conn.statement("INSERT OR REPLACE INTO account (worker, password_hash, set_at, set_by) VALUES (?, ?, ?, ?)")
            s.bind(1, a.worker); s.bind(2, a.passwordHash); s.bind(3, a.setAt.ms); s.bind(4, a.setBy)
            try s.run()
        }
    }

    public func account(worker: String) throws -> AccountRecord? {
        try accounts(where: "WHERE worker = ?") { $0.bind(1, worker) }.first
    }

    /// Every account, by worker id.
    public func accounts() throws -> [AccountRecord] { try accounts(where: "") { _ in } }

    private func accounts(where clause: String, _ bind: (Statement) -> Void) throws -> [AccountRecord] {
        try read {
            let s = try conn.statement("SELECT worker, password_hash, set_at, set_by FROM account \(clause) ORDER BY worker")
            bind(s)
            var out: [AccountRecord] = []
            while try s.step() {
                out.append(AccountRecord(worker: s.text(0), passwordHash: s.text(1), setAt: Instant(ms: s.int(2)), setBy: s.text(3)))
            }
            return out
        }
    }
}
