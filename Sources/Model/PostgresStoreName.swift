/// Whether a store setting names a PostgreSQL store (`postgres://…` or `postgresql://…`) rather than an SQLite file:
/// what does not support one yet says so instead of taking the URL for a file name.
public enum PostgresStoreName {
    public static func names(_ store: String) -> Bool {
        let s = store.lowercased()
        return s.hasPrefix("postgres://") || s.hasPrefix("postgresql://")
    }
}
