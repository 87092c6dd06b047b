/// Arithmetic and data movement on import-time constants (shape subgraphs, folded weights),
/// with NumPy broadcasting as the ONNX specification defines it.
extension ConstantTensor {
  /// The broadcast shape of two shapes, nil when they do not broadcast.
  static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a, pb = [Int](repeating: 1, count: r - b.count) + b
    var out: [Int] = []
    for (x, y) in zip(pa, pb) {
      guard x == y || x == 1 || y == 1 else { return nil }
      out.append(x == 1 ? y : x)
    }
    return out
  }

  /// Row-major strides of a shape, 0 on broadcast axes of a shape padded to `rank`.
  static func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: out.count - shape.count) + shape
    var strides = [Int](repeating: 0, count: out.count), s = 1
    for k in stride(from: out.count - 1, through: 0, by: -1) {
      strides[k] = padded[k] == 1 ? 0 : s
      s *= padded[k]
    }
    return strides
  }

  /// Flat source index of every element of `out` for a tensor of `shape` broadcast to it.
  static func broadcastIndices(_ shape: [Int], to out: [Int]) -> [Int] {
    let strides = broadcastStrides(shape, to: out)
    let total = out.reduce(1, *)
    var result = [Int](repeating: 0, count: total)
    var index = [Int](repeating: 0, count: out.count)
    for flat in 0..<total {
      var src = 0
      for k in out.indices { src += index[k] * strides[k] }
      result[flat] = src
      var k = out.count - 1
      while k >= 0 { index[k] += 1; if index[k] < out[k] { break }; index[k] = 0; k -= 1 }
    }
    return result
  }

  enum Arithmetic { case add, subtract, multiply, divide, minimum, maximum, equal, greater, less }

  /// a op b with broadcasting; integers stay integers (division truncates toward zero), anything
  /// with a float is float. The symbolic batch size only passes through untouched.
  static func combine(_ a: ConstantTensor, _ b: ConstantTensor, _ op: Arithmetic, _ what: String) throws -> ConstantTensor {
    guard let shape = broadcastShape(a.shape, b.shape) else {
      throw ONNXError("\(what): shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    guard shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= max(a.count, b.count, Importer.maxGeneratedElements) else {
      throw ONNXError("\(what): result \(shape) too large")
    }
    let ia = broadcastIndices(a.shape, to: shape), ib = broadcastIndices(b.shape, to: shape)
    if case .int(let x) = a.storage, case .int(let y) = b.storage {
      let values = try zip(ia, ib).map { i, j -> Int64 in
        let (u, v) = (x[i], y[j])
        if u == batch || v == batch {
          throw ONNXError("\(what): arithmetic on the batch size (a dynamic shape the importer cannot fold)")
        }
        switch op {
        case .add: return u &+ v
        case .subtract: return u &- v
        case .multiply: return u &* v
        case .divide:
          guard v != 0 else { throw ONNXError("\(what): integer division by zero") }
          return u / v
        case .minimum: return min(u, v)
        case .maximum: return max(u, v)
        case .equal: return u == v ? 1 : 0
        case .greater: return u > v ? 1 : 0
        case .less: return u < v ? 1 : 0
        }
      }
      return ConstantTensor(shape: shape, ints: values)
    }
    let (x, y) = (a.floats, b.floats)
    let values = zip(ia, ib).map { i, j -> Float in
      let (u, v) = (x[i], y[j])
      switch op {
      case .add: return u + v
      case .subtract: return u - v
      case .multiply: return u * v
      case .divide: return u / v
      case .minimum: return Swift.min(u, v)
      case .maximum: return Swift.max(u, v)
      case .equal: return u == v ? 1 : 0
      case .greater: return u > v ? 1 : 0
      case .less: return u < v ? 1 : 0
      }
    }
    if op == .equal || op == .greater || op == .less { return ConstantTensor(shape: shape, ints: values.map { Int64($0) }) }
    return ConstantTensor(shape: shape, floats: values)
  }

  /// Elements at flat source indices (the storage kind kept).
  func gathered(_ indices: [Int], shape: [Int]) -> ConstantTensor {
    switch storage {
    case .float(let v): ConstantTensor(shape: shape, floats: indices.map { v[$0] })
    case .int(let v): ConstantTensor(shape: shape, ints: indices.map { v[$0] })
    }
  }

  func reshaped(_ shape: [Int]) -> ConstantTensor {
    var c = self
    c.shape = shape
    return c
  }

  /// Row-major strides.
  static func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    for k in stride(from: shape.count - 2, through: 0, by: -1) { s[k] = s[k + 1] * shape[k + 1] }
    return s
  }

  /// Visits every multi-index of a shape in row-major order.
  static func forEachIndex(_ shape: [Int], _ body: ([Int]) -> Void) {
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    var index = [Int](repeating: 0, count: shape.count)
    for _ in 0..<total {
      body(index)
      var k = shape.count - 1
      while k >= 0 { index[k] += 1; if index[k] < shape[k] { break }; index[k] = 0; k -= 1 }
    }
  }

  func transposed(_ perm: [Int]) -> ConstantTensor {
    let out = perm.map { shape[$0] }, s = Self.strides(shape)
    var indices: [Int] = []
    indices.reserveCapacity(count)
    Self.forEachIndex(out) { idx in indices.append(zip(perm, idx).reduce(0) { $0 + s[$1.0] * $1.1 }) }
    return gathered(indices, shape: out)
  }

  /// Strided slices per axis: (start, count, step) with step > 0.
  func sliced(_ ranges: [(start: Int, count: Int, step: Int)]) -> ConstantTensor {
    let out = ranges.map(\.count), s = Self.strides(shape)
    var indices: [Int] = []
    Self.forEachIndex(out) { idx in
      indices.append(idx.indices.reduce(0) { $0 + s[$1] * (ranges[$1].start + idx[$1] * ranges[$1].step) })
    }
    return gathered(indices, shape: out)
  }

  /// Concatenation along `axis` (same rank, other dims equal: checked by the caller).
  static func concatenated(_ parts: [ConstantTensor], axis: Int) -> ConstantTensor {
    var out = parts[0].shape
    out[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
    let outer = out[..<axis].reduce(1, *)
    var floats: [Float] = [], ints: [Int64] = []
    let allInt = parts.allSatisfy { !$0.isFloat }
    for o in 0..<outer {
      for p in parts {
        let block = p.shape[axis...].reduce(1, *)
        if allInt, case .int(let v) = p.storage { ints += v[(o * block)..<((o + 1) * block)] }
        else { floats += p.floats[(o * block)..<((o + 1) * block)] }
      }
    }
    return allInt ? ConstantTensor(shape: out, ints: ints) : ConstantTensor(shape: out, floats: floats)
  }
}
