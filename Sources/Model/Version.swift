/// City Eye's version, as `cityeye --version` and the live engine's first log line print it. Raised with each
/// release (and store migrations say which version first wrote them).
public enum CityEyeVersion {
    public static let text = "0.5.0"
}
