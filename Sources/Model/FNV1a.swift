/// 64-bit FNV-1a of bytes: small, fixed forever and the same in every language, so a community's partition
/// (`partitions: {hash: N}`, docs/scale.md) never moves with a compiler, a platform or a City Eye version.
/// Not for hash tables on the hot path (`ByteHash` is faster there).
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var h = offsetBasis
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    /// The hash of the text's UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 { hash(text.utf8) }
}
