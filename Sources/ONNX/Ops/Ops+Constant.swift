import Layers
import TensorCore

// Ops that compute constants at import: Constant, ConstantOfShape, Shape of a computed tensor
// (its batch size symbolic), and the integer arithmetic of shape subgraphs.

extension Importer {
  func constantOp(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(0...0)
    if let t = try c.tensor("value") { return [.constant(t)] }
    if let a = c.attribute("value_float") { return [.constant(ConstantTensor(shape: [], floats: [a.f]))] }
    if let v = try c.floats("value_floats") { return [.constant(ConstantTensor(shape: [v.count], floats: v))] }
    if let a = c.attribute("value_int") { return [.constant(ConstantTensor(shape: [], ints: [a.i]))] }
    if let a = c.attribute("value_ints") { return [.constant(ConstantTensor(shape: [a.ints.count], ints: a.ints))] }
    throw c.fail("only numeric values (value, value_float(s), value_int(s)) are supported")
  }

  func constantOfShape(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let shape = try c.ints(0)
    guard shape.allSatisfy({ $0 >= 0 && $0 <= Importer.maxGeneratedElements }),
          shape.reduce(1, { $0.multipliedReportingOverflow(by: max($1, 1)).partialValue }) <= Importer.maxGeneratedElements else {
      throw c.fail("shape \(shape) is invalid or too large")
    }
    let value = try c.tensor("value") ?? ConstantTensor(shape: [1], floats: [0])
    guard value.count == 1 else { throw c.fail("value must hold one element") }
    let n = shape.reduce(1, *)
    switch value.storage {
    case .float(let v): return [.constant(ConstantTensor(shape: shape, floats: [Float](repeating: v[0], count: n)))]
    case .int(let v): return [.constant(ConstantTensor(shape: shape, ints: [Int64](repeating: v[0], count: n)))]
    }
  }

  /// Shape of a computed tensor: [batch, dims...] with the batch size symbolic (start / end from
  /// opset 15).
  func shapeOp(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let dims: [Int64]
    switch (try c.value(0)) {
    case .constant(let k): dims = k.shape.map(Int64.init)
    case .runtime(let x): dims = [ConstantTensor.batch] + x.sample.map(Int64.init)
    case .unknown: throw c.fail("input is unknown")
    }
    let rank = dims.count
    func bound(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
    let start = bound(try c.int("start", default: 0)), end = bound(try c.int("end", default: rank))
    let part = start < end ? Array(dims[start..<end]) : []
    return [.constant(ConstantTensor(shape: [part.count], ints: part))]
  }

  func gather(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(2...2)
    guard let data = (try c.value(0)).constant else { throw c.fail("Gather on a computed tensor is not supported (shape computations only)") }
    let indices = try c.constant(1).intValues("node '\(c.name)' indices")
    let rank = data.shape.count
    guard rank >= 1 else { throw c.fail("data must have rank ≥ 1") }
    let axis = try normalizedAxis(try c.int("axis", default: 0), rank: rank, c)
    let n = data.shape[axis]
    let resolved = try indices.map { i -> Int in
      let j = i < 0 ? i + n : i
      guard (0..<n).contains(j) else { throw c.fail("index \(i) is out of range for axis \(axis) of size \(n)") }
      return j
    }
    let indexShape = try c.constant(1).shape
    let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
    var flat: [Int] = []
    for o in 0..<outer { for j in resolved { for k in 0..<inner { flat.append((o * n + j) * inner + k) } } }
    let shape = Array(data.shape[..<axis]) + indexShape + Array(data.shape[(axis + 1)...])
    return [.constant(data.gathered(flat, shape: shape))]
  }

  /// Cast of constants (float types stay float, integer types truncate toward zero); of a
  /// computed tensor only to float32 (nothing to do).
  func cast(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let to = try c.int("to")
    guard let type = Onnx_TensorProto.DataType(rawValue: to) else { throw c.fail("unknown target type \(to)") }
    let isFloat = [.float, .double, .float16, .bfloat16].contains(type)
    switch (try c.value(0)) {
    case .runtime(let x):
      guard type == .float else { throw c.fail("casting a computed tensor to \(type) is not supported") }
      return [.runtime(x)]
    case .constant(let k):
      if isFloat { return [.constant(ConstantTensor(shape: k.shape, floats: k.floats))] }
      switch k.storage {
      case .int(let v): return [.constant(ConstantTensor(shape: k.shape, ints: type == .bool ? v.map { $0 != 0 ? 1 : 0 } : v))]
      case .float(let v):
        guard v.allSatisfy({ $0.isFinite && abs($0) < 9e18 }) else { throw c.fail("value out of the integer range") }
        return [.constant(ConstantTensor(shape: k.shape, ints: v.map { type == .bool ? ($0 != 0 ? 1 : 0) : Int64($0.rounded(.towardZero)) }))]
      }
    case .unknown: throw c.fail("input is unknown")
    }
  }

  /// Elementwise ops of shape subgraphs, on constants only.
  func constantArithmetic(_ c: NodeContext) throws -> [ImportValue] {
    let ops: [String: ConstantTensor.Arithmetic] = ["Equal": .equal, "Greater": .greater, "Less": .less, "Min": .minimum, "Max": .maximum]
    let parts = try c.inputs.indices.map { try c.constant($0) }
    guard let first = parts.first else { throw c.fail("needs an input") }
    switch c.op {
    case "Neg", "Abs", "Floor", "Ceil", "Sqrt":
      try c.requireInputs(1...1)
      switch first.storage {
      case .int(let v) where c.op == "Neg" || c.op == "Abs":
        return [.constant(ConstantTensor(shape: first.shape, ints: try v.map {
          guard $0 != ConstantTensor.batch else { throw c.fail("arithmetic on the batch size is not supported") }
          return c.op == "Neg" ? -$0 : abs($0)
        }))]
      default:
        let f: (Float) -> Float = ["Neg": { -$0 }, "Abs": { abs($0) }, "Floor": { $0.rounded(.down) }, "Ceil": { $0.rounded(.up) },
                                   "Sqrt": { $0.squareRoot() }][c.op]!
        return [.constant(ConstantTensor(shape: first.shape, floats: first.floats.map(f)))]
      }
    case "Where":
      try c.requireInputs(3...3)
      let cond = try parts[0].ints("node '\(c.name)' condition")
      guard let shape = ConstantTensor.broadcastShape(parts[0].shape, parts[1].shape).flatMap({ ConstantTensor.broadcastShape($0, parts[2].shape) }) else {
        throw c.fail("inputs \(parts.map(\.shape)) do not broadcast")
      }
      let (ic, ia, ib) = (ConstantTensor.broadcastIndices(parts[0].shape, to: shape), ConstantTensor.broadcastIndices(parts[1].shape, to: shape),
                          ConstantTensor.broadcastIndices(parts[2].shape, to: shape))
      if case .int(let a) = parts[1].storage, case .int(let b) = parts[2].storage {
        return [.constant(ConstantTensor(shape: shape, ints: ic.indices.map { cond[ic[$0]] != 0 ? a[ia[$0]] : b[ib[$0]] }))]
      }
      let (a, b) = (parts[1].floats, parts[2].floats)
      return [.constant(ConstantTensor(shape: shape, floats: ic.indices.map { cond[ic[$0]] != 0 ? a[ia[$0]] : b[ib[$0]] }))]
    case "Range":
      try c.requireInputs(3...3)
      guard parts.allSatisfy({ $0.count == 1 }) else { throw c.fail("start, limit and delta must be scalars") }
      if parts.allSatisfy({ !$0.isFloat }) {
        let v = try parts.map { try $0.ints("node '\(c.name)'")[0] }
        guard v[2] != 0 else { throw c.fail("delta is 0") }
        let count = (Double(v[1]) - Double(v[0])) / Double(v[2])
        guard count <= Double(Importer.maxGeneratedElements) else { throw c.fail("range too long") }
        let n = max(0, Int(count.rounded(.up)))
        return [.constant(ConstantTensor(shape: [n], ints: (0..<n).map { v[0] + Int64($0) * v[2] }))]
      }
      let v = parts.map { $0.floats[0] }
      guard v[2] != 0, v.allSatisfy(\.isFinite) else { throw c.fail("delta is 0 or a bound is not finite") }
      let count = Double(v[1] - v[0]) / Double(v[2])
      guard count.isFinite, count <= Double(Importer.maxGeneratedElements) else { throw c.fail("range too long") }
      let n = max(0, Int(count.rounded(.up)))
      return [.constant(ConstantTensor(shape: [n], floats: (0..<n).map { v[0] + Float($0) * v[2] }))]
    default:
      guard let op = ops[c.op] else { throw c.fail("not supported") }
      var result = first
      for p in parts.dropFirst() { result = try ConstantTensor.combine(result, p, op, "node '\(c.name)'") }
      return [.constant(result)]
    }
  }
}
