import Yams

/// Bounds how far YAML aliases may expand a document ("billion laughs": nine nested aliases of ten make 10^9
/// nodes out of a kilobyte). The bound grows with the file, so a registry of millions of devices written out
/// in full always loads; only aliases can push a document past it.
enum AliasBudget {
    /// Nodes allowed per byte of text (a node takes at least two bytes when written out), and at least this many.
    static let nodesPerByte = 4
    static let floor = 1_000_000

    static func limit(textBytes: Int) -> Int { max(floor, textBytes.multipliedReportingOverflow(by: nodesPerByte).partialValue) }

    /// Walks the document as every reader would, stopping as soon as it passes the limit.
    static func check(_ root: Node, textBytes: Int, file: String) throws(YAMLFileError) {
        let limit = limit(textBytes: textBytes)
        var count = 0
        var stack: [Node] = [root]
        while let node = stack.popLast() {
            count += 1
            if count > limit {
                throw YAMLFileError(file: file, line: node.mark?.line,
                                    "YAML aliases (`*name`) expand this document past \(limit) nodes (\(nodesPerByte) per byte of the file, at least \(floor)): write the repeated values out or nest fewer aliases")
            }
            switch node {
            case .scalar: break
            case .sequence(let s): stack.append(contentsOf: s)
            case .mapping(let m): for (k, v) in m { stack.append(k); stack.append(v) }
            }
        }
    }
}
