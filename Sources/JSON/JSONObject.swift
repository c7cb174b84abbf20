/// A JSON object that keeps member order.
///
/// - Keys are unique. Setting an existing key replaces its value in place;
///   setting a new key appends it; setting `nil` removes it.
/// - While parsing, a duplicate key's LAST value wins (as Go's encoding/json),
///   and the member keeps the position of the FIRST occurrence.
/// - Key comparison uses Swift `String` equality (Unicode canonical equivalence).
/// - Equality (`==`) ignores member order: two objects are equal when they have
///   the same keys with equal values.
public struct JSONObject: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSON)

    private var _keys: [String]
    private var _values: [JSON]
    /// Key → position, maintained only once the object is large enough for a
    /// linear scan to hurt.
    private var _index: [String: Int]?

    private static var indexThreshold: Int { 12 }

    public init() {
        _keys = []
        _values = []
        _index = nil
    }

    /// Builds an object from pairs in order; a repeated key's last value wins,
    /// at the position of its first occurrence.
    public init(_ pairs: [(String, JSON)]) {
        self.init()
        reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init(elements)
    }

    public mutating func reserveCapacity(_ n: Int) {
        _keys.reserveCapacity(n)
        _values.reserveCapacity(n)
    }

    /// The member keys in order.
    public var keys: [String] { _keys }
    /// The member values in order.
    public var values: [JSON] { _values }
    public var count: Int { _keys.count }
    public var isEmpty: Bool { _keys.isEmpty }

    public func contains(_ key: String) -> Bool {
        position(of: key) != nil
    }

    /// The member's value; nil if absent. Setting nil removes the member.
    public subscript(key: String) -> JSON? {
        get {
            guard let p = position(of: key) else { return nil }
            return _values[p]
        }
        set {
            if let p = position(of: key) {
                if let newValue {
                    _values[p] = newValue
                } else {
                    remove(at: p)
                }
            } else if let newValue {
                appendNew(key, newValue)
            }
        }
    }

    /// Removes a member, returning its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSON? {
        guard let p = position(of: key) else { return nil }
        let v = _values[p]
        remove(at: p)
        return v
    }

    // MARK: internals

    private func position(of key: String) -> Int? {
        if let _index { return _index[key] }
        var j = 0
        let n = _keys.count
        while j < n {
            if _keys[j] == key { return j }
            j += 1
        }
        return nil
    }

    private mutating func appendNew(_ key: String, _ value: JSON) {
        _keys.append(key)
        _values.append(value)
        if _index != nil {
            _index?[key] = _keys.count - 1
        } else if _keys.count > Self.indexThreshold {
            rebuildIndex()
        }
    }

    private mutating func remove(at p: Int) {
        _keys.remove(at: p)
        _values.remove(at: p)
        if _index != nil {
            if _keys.count > Self.indexThreshold { rebuildIndex() } else { _index = nil }
        }
    }

    private mutating func rebuildIndex() {
        var idx = [String: Int](minimumCapacity: _keys.count)
        for (j, k) in _keys.enumerated() { idx[k] = j }
        _index = idx
    }

    /// Parser entry point: duplicate keys — last value wins, first position kept.
    mutating func insertParsed(_ key: String, _ value: JSON) {
        if let p = position(of: key) {
            _values[p] = value
        } else {
            appendNew(key, value)
        }
    }

    // MARK: Sequence

    public struct Iterator: IteratorProtocol {
        private let keys: [String]
        private let values: [JSON]
        private var i = 0
        init(_ keys: [String], _ values: [JSON]) {
            self.keys = keys
            self.values = values
        }
        public mutating func next() -> (key: String, value: JSON)? {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[i])
        }
    }

    public func makeIterator() -> Iterator { Iterator(_keys, _values) }

    public var underestimatedCount: Int { _keys.count }

    // MARK: Equatable (order-insensitive)

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs._keys.count == rhs._keys.count else { return false }
        if lhs._keys == rhs._keys { return lhs._values == rhs._values }
        for j in lhs._keys.indices {
            guard let r = rhs[lhs._keys[j]], r == lhs._values[j] else { return false }
        }
        return true
    }
}
