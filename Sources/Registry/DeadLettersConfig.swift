import Model
import YAMLSupport

/// `cityeye run`'s `dead_letters:` section (docs/operations.md): what the engine keeps of rejected messages. Every key
/// is optional (the defaults are `DeadLetterPolicy()`'s); an unknown key or a value out of range is an error naming it.
enum DeadLettersConfig {
    static let keys: Set<String> = ["payload_max_bytes", "max_age", "max_total_mb", "per_device_per_minute", "overall_per_minute"]
    static let maxAge: ClosedRange<Millis> = Durations.minute...(3_650 * Durations.day)
    static let perMinute = 0...1_000_000

    static func parse(_ section: YAMLValue) throws(ConfigError) -> DeadLetterPolicy {
        var p = DeadLetterPolicy()
        let f = try section.fields("dead_letters", allowed: keys)
        func whole(_ key: String, _ range: ClosedRange<Int>, _ meaning: String) throws(ConfigError) -> Int? {
            guard let v = f[key] else { return nil }
            let n = try v.int("dead_letters.\(key)")
            guard range.contains(n) else {
                throw v.error("dead_letters.\(key) must be \(range.lowerBound)–\(range.upperBound) (\(meaning)), got \(n)")
            }
            return n
        }
        if let n = try whole("payload_max_bytes", 1...DeadLetter.maxPayloadBytes, "bytes of a rejected payload kept") {
            p.payloadCap = n
        }
        if let v = f["max_age"] {
            let text = try v.string("dead_letters.max_age")
            guard let age = Durations.parse(text), maxAge.contains(age) else {
                throw v.error("dead_letters.max_age must be a duration from 1m to 3650d such as `30d` or `12h`, got `\(text)`")
            }
            p.maxAge = age
        }
        if let n = try whole("max_total_mb", 1...1_048_576, "MiB of payload the dead letters may hold") { p.maxTotalBytes = n << 20 }
        if let n = try whole("per_device_per_minute", perMinute, "dead letters kept per device or topic per minute; 0 keeps only counts") {
            p.perSourcePerMinute = n
        }
        if let n = try whole("overall_per_minute", perMinute, "dead letters kept per minute in all; 0 keeps only counts") {
            p.overallPerMinute = n
        }
        return p
    }
}
