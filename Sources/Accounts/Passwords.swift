import HummingbirdBcrypt
import Model
import Store

/// Why a password could not be set.
public struct AccountError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case unknownPerson, weakPassword, store }
    public var code: Code
    public var message: String
    public var description: String { message }
}

/// People's passwords for the web app: only bcrypt hashes are stored (table `account`).
public struct Passwords: Sendable {
    /// bcrypt's work factor: ~0.25 s per check on this kind of machine, which is what makes a stolen hash slow to
    /// guess. Tests pass a lower cost.
    public static let defaultCost: UInt8 = 12
    public static let minimumLength = 8
    /// bcrypt reads only the first 72 bytes; a longer password would be silently cut.
    public static let maximumBytes = 72

    let store: any WebStore
    let cost: UInt8
    public init(store: any WebStore, cost: UInt8 = Passwords.defaultCost) { self.store = store; self.cost = cost }

    /// Sets a password for a worker or supervisor of the registry, replacing any earlier one.
    public func set(_ password: String, for worker: String, registry: Registry, at: Instant, by osUser: String) throws(AccountError) {
        guard registry.workers[worker] != nil else {
            let known = registry.workers.keys.sorted().prefix(8).joined(separator: ", ")
            throw AccountError(code: .unknownPerson, message: "\(worker) is not a worker or supervisor in the registry recorded in \(store.path) (known: \(known)…)")
        }
        guard password.count >= Self.minimumLength else {
            throw AccountError(code: .weakPassword, message: "the password must have at least \(Self.minimumLength) characters")
        }
        guard password.utf8.count <= Self.maximumBytes else {
            throw AccountError(code: .weakPassword, message: "the password must be at most \(Self.maximumBytes) bytes (bcrypt ignores the rest)")
        }
        let hash = Bcrypt.hash(password, cost: cost)
        do {
            try store.saveAccount(AccountRecord(worker: worker, passwordHash: hash, setAt: at, setBy: osUser))
        } catch {
            throw AccountError(code: .store, message: "cannot save the password in \(store.path): \(error)")
        }
    }

    /// True when the person has an account and the password matches its hash.
    public func verify(_ password: String, for worker: String) throws -> Bool {
        guard let account = try store.account(worker: worker) else {
            // Same cost as a real check, so that response time does not tell which accounts exist.
            _ = Bcrypt.verify(password, hash: Self.decoy)
            return false
        }
        return Bcrypt.verify(password, hash: account.passwordHash)
    }

    /// A bcrypt hash of a random string nobody knows (made once, on first use).
    static let decoy = Bcrypt.hash(Secrets.token(), cost: defaultCost)
}
