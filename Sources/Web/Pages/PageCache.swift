import Foundation
import Model

/// Drawn cockpit pages, kept until the store changes. A page is drawn for one session (its forms carry the session's
/// CSRF token), one URL and one language, and is good while the change feed's newest audit row and the hour stay
/// the same: every change to an incident appends an audit row, and the feed is what the live pages already follow
/// (a change shows within its 500 ms poll, as it does on an open page; this server's own actions poll it at once).
/// A wall screen reloading, or many screens of one supervisor, then cost one drawing per change, not one per request.
final class PageCache: @unchecked Sendable {
    struct Key: Hashable {
        var session: String
        var uri: String
        var language: Language
        var row: Int64
        var hour: Int64
    }

    private let lock = NSLock()
    private var pages: [Key: String] = [:]
    private let capacity: Int

    init(capacity: Int = 64) { self.capacity = capacity }

    func page(_ key: Key) -> String? { lock.withLock { pages[key] } }

    func keep(_ page: String, for key: Key) {
        lock.withLock {
            // Rows and hours only move on: a page of an older one is never asked for again.
            pages = pages.filter { $0.key.row >= key.row && $0.key.hour >= key.hour }
            if pages.count >= capacity { pages.removeAll() }
            pages[key] = page
        }
    }
}
