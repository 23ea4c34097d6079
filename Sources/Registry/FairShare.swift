import Model

/// Which partitions one engine should hold among the live engines (`cityeye run --partitions auto`, not wired yet).
public struct FairShare: Sendable, Equatable {
    /// This engine's partitions, sorted: ⌊P/E⌋ or ⌈P/E⌉ of them.
    public var hold: [String]
    /// Held now and no longer this engine's: commit, disconnect, then release the lease so the new owner takes them.
    public var giveBack: [String]
    /// This engine's and not held now: acquire them (their old holder gives them back, or its lease expires).
    public var take: [String]
}

extension PartitionPlan {
    /// The share of engine `mine` when `engines` are alive: a pure function of the two sets (the order they are
    /// given in does not matter), so every engine computes the same split without talking to the others.
    ///
    /// Each partition ranks the engines by a hash of (partition, engine) — rendezvous hashing, so one engine
    /// joining or leaving moves few partitions — and goes to its best-ranked engine that still has room; room is
    /// ⌊P/E⌋ each, plus one for as many engines as P mod E. An engine not in `engines` holds nothing (it gives back
    /// all it holds).
    public static func fairShare(partitions: [String], engines: [String], mine: String,
                                 holding: [String] = []) -> FairShare {
        let owners = assignment(partitions: partitions, engines: engines)
        let hold = owners.filter { $0.value == mine }.keys.sorted()
        let held = Set(holding)
        let target = Set(hold)
        return FairShare(hold: hold, giveBack: held.subtracting(target).sorted(), take: target.subtracting(held).sorted())
    }

    /// Every partition's engine, by the rule `fairShare` describes.
    public static func assignment(partitions: [String], engines: [String]) -> [String: String] {
        let ps = Array(Set(partitions)).sorted()
        let es = Array(Set(engines)).sorted()
        guard !es.isEmpty else { return [:] }
        let base = ps.count / es.count
        var extra = ps.count % es.count
        var count = [String: Int]()
        var owner = [String: String]()
        let engineSeeds = es.map { mix(FNV1a.hash($0)) }
        for p in ps {
            let ph = FNV1a.hash(p)
            let ranked = es.indices.sorted { a, b in
                let sa = mix(ph ^ engineSeeds[a]), sb = mix(ph ^ engineSeeds[b])
                return sa != sb ? sa > sb : es[a] < es[b]
            }
            for i in ranked {
                let n = count[es[i], default: 0]
                if n < base || (n == base && extra > 0) {
                    if n == base { extra -= 1 }
                    count[es[i]] = n + 1
                    owner[p] = es[i]
                    break
                }
            }
        }
        return owner
    }

    /// SplitMix64's finaliser: FNV-1a alone mixes its last bytes poorly.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
