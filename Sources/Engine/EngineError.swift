import Store

/// Why an engine cannot start or go on, with the file it concerns; the description says what to do.
public struct EngineError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The registry file cannot be read (missing, a folder, no permission).
        case registryUnreadable
        /// The registry file is read but wrong (the description has file:line).
        case registryInvalid
        /// A rule file is wrong, or the rules folder cannot be read.
        case rulesInvalid
        /// The store cannot be opened, is not a City Eye store, is from a newer cityeye, or a write failed.
        case store
        /// The rule state a store carries cannot be read back.
        case ruleStateUnreadable
    }

    public let code: Code
    /// The file or folder concerned.
    public let path: String
    public let description: String
    /// The store's own error, when the store is what failed (the live engine waits out a transient one).
    public var storeFault: StoreError?

    public init(_ code: Code, path: String, _ description: String, storeFault: StoreError? = nil) {
        self.code = code; self.path = path; self.description = description; self.storeFault = storeFault
    }

    public static func ruleStateUnreadable(path: String, detail: String) -> EngineError {
        EngineError(.ruleStateUnreadable, path: path,
                    "the rule state saved in \(path) cannot be read (\(detail)); replay into a new store or remove the file")
    }
}
