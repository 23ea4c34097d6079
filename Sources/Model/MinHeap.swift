/// A binary min-heap. Inlinable so that it is specialised for its element in the module that uses it.
public struct MinHeap<T: Comparable> {
    @inlinable public init() {}
    @usableFromInline var items: [T] = []
    @inlinable public var peek: T? { items.first }
    @inlinable public var count: Int { items.count }
    /// Elements the heap has room for without growing (what it takes in memory).
    @inlinable public var capacity: Int { items.capacity }

    @inlinable
    public mutating func push(_ x: T) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i] < items[p] else { break }
            items.swapAt(i, p); i = p
        }
    }

    @inlinable
    @discardableResult
    public mutating func pop() -> T? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m); i = m
        }
        return top
    }
}
