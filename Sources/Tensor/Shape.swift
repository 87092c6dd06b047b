/// The dimensions of a tensor, outermost first (row-major).
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible, Codable {
  public var dims: [Int]

  public init(_ dims: [Int]) {
    precondition(dims.allSatisfy { $0 >= 0 }, "negative dimension in shape \(dims)")
    self.dims = dims
  }

  public init(arrayLiteral elements: Int...) { self.init(elements) }

  public init(from decoder: Decoder) throws {
    let dims = try decoder.singleValueContainer().decode([Int].self)
    guard dims.allSatisfy({ $0 >= 0 }) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "negative dimension in shape \(dims)"))
    }
    self.dims = dims
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(dims)
  }

  public var rank: Int { dims.count }
  /// Number of elements (1 for a scalar).
  public var count: Int { dims.reduce(1, *) }
  public subscript(_ axis: Int) -> Int {
    get { dims[normalized(axis)] }
    set { dims[normalized(axis)] = newValue }
  }

  /// Row-major element strides.
  public var strides: [Int] {
    var s = [Int](repeating: 1, count: dims.count)
    var acc = 1
    for i in stride(from: dims.count - 1, through: 0, by: -1) {
      s[i] = acc
      acc *= dims[i]
    }
    return s
  }

  /// Maps a possibly negative axis (-1 = last) to 0..<rank.
  public func normalized(_ axis: Int) -> Int {
    let a = axis < 0 ? axis + dims.count : axis
    precondition(a >= 0 && a < dims.count, "axis \(axis) out of range for shape \(self)")
    return a
  }

  public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

  /// The broadcast shape of two shapes (NumPy rules), or nil when they are incompatible.
  public static func broadcast(_ a: Shape, _ b: Shape) -> Shape? {
    let r = max(a.rank, b.rank)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
      let da = i < r - a.rank ? 1 : a.dims[i - (r - a.rank)]
      let db = i < r - b.rank ? 1 : b.dims[i - (r - b.rank)]
      if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return Shape(out)
  }

  /// Element strides for reading a tensor of this shape as if it had shape `target` (stride 0 on
  /// broadcast axes). Requires that this shape broadcasts to `target`.
  public func broadcastStrides(to target: Shape) -> [Int] {
    let own = strides
    let offset = target.rank - rank
    precondition(offset >= 0, "cannot broadcast \(self) to \(target)")
    return (0..<target.rank).map { i in
      if i < offset { return 0 }
      let d = dims[i - offset]
      precondition(d == target.dims[i] || d == 1, "cannot broadcast \(self) to \(target)")
      return d == 1 && target.dims[i] != 1 ? 0 : own[i - offset]
    }
  }
}
