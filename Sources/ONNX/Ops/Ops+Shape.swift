import Layers
import TensorCore

// Data movement: on computed tensors these become layers that keep the batch axis first; on
// constants (shape subgraphs) they fold.

extension Importer {
  /// A `Reshape` to a per-sample shape (an alias when it changes nothing).
  func reshapeNode(_ c: NodeContext, _ x: RuntimeValue, to sample: [Int]) -> RuntimeValue {
    if sample == x.sample { return x }
    return RuntimeValue(node: c.add(Reshape(sample), [x]), sample: sample)
  }

  func flatten(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    if let k = (try c.value(0)).constant {
      let axis = try normalizedAxis(try c.int("axis", default: 1), rank: k.shape.count + (k.shape.isEmpty ? 1 : 0), c)
      return [.constant(k.reshaped([k.shape[..<axis].reduce(1, *), k.shape[axis...].reduce(1, *)]))]
    }
    let x = try c.runtime(0)
    let raw = try c.int("axis", default: 1)
    let axis = raw == x.rank ? x.rank : try normalizedAxis(raw, rank: x.rank, c)
    guard axis >= 1 else { throw c.fail("flattening into the batch axis (axis 0) is not supported") }
    if axis == 1 {
      let node = c.add(Flatten(), [x])
      return [.runtime(RuntimeValue(node: node, sample: [x.sample.reduce(1, *)]))]
    }
    let kept = Array(x.sample[..<(axis - 1)])
    return [.runtime(reshapeNode(c, x, to: [kept.reduce(1, *), x.sample[(axis - 1)...].reduce(1, *)]))]
  }

  /// Reshape to a constant target: the first entry must stand for the batch (the symbolic batch
  /// of a Shape, 0 = copy, −1 with the rest fixed, or 1 when the graph was exported for batch 1);
  /// 0 copies an input dimension (unless allowzero), one −1 is inferred.
  func reshape(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(2...2)
    let target = try c.constant(1).ints("node '\(c.name)' shape", allowBatch: true)
    let allowZero = try c.int("allowzero", default: 0) != 0
    if let k = (try c.value(0)).constant {
      return [.constant(k.reshaped(try resolvedShape(c, target.map { try plain($0, c) }, input: k.shape, allowZero: allowZero)))]
    }
    let x = try c.runtime(0)
    guard let first = target.first else { throw c.fail("an empty target shape drops the batch axis") }
    guard first == ConstantTensor.batch || (first == 0 && !allowZero) || first == -1 || first == 1 else {
      throw c.fail("target \(target) does not keep the batch axis first")
    }
    let rest = try target.dropFirst().map { try plain($0, c) }
    if first == -1, rest.contains(-1) { throw c.fail("target \(target) infers both the batch axis and another") }
    let sample = try resolvedShape(c, rest, input: x.sample, allowZero: allowZero)
    return [.runtime(reshapeNode(c, x, to: sample))]
  }

  func plain(_ v: Int64, _ c: NodeContext) throws -> Int {
    guard v != ConstantTensor.batch else { throw c.fail("the batch size appears in a shape where only the first axis may hold it") }
    guard v >= -1, v <= Int64(ConstantTensor.maxElements) else { throw c.fail("shape value \(v) is invalid") }
    return Int(v)
  }

  /// A target shape with 0 (copy the input's dimension at the same position, unless allowZero)
  /// and one −1 resolved; for computed tensors both leave the batch axis out.
  func resolvedShape(_ c: NodeContext, _ target: [Int], input: [Int], allowZero: Bool) throws -> [Int] {
    let full = input.reduce(1, *)  // bounded: inputs hold at most maxSampleElements
    var dims = try target.enumerated().map { k, d -> Int in
      guard d == 0 && !allowZero else { return d }
      guard k < input.count else { throw c.fail("target \(target) copies axis \(k) (0), which the input \(input) does not have") }
      return input[k]
    }
    let unknown = dims.indices.filter { dims[$0] == -1 }
    guard unknown.count <= 1 else { throw c.fail("target \(target) has more than one −1") }
    var known = 1
    for d in dims where d != -1 {
      let (p, overflow) = known.multipliedReportingOverflow(by: d)
      guard !overflow, p <= Importer.maxSampleElements * 2 else { throw c.fail("target \(target) holds more elements than the input's \(full)") }
      known = p
    }
    if let u = unknown.first {
      guard known > 0, full % known == 0 else { throw c.fail("cannot infer −1 in \(target) for \(full) elements") }
      dims[u] = full / known
    }
    guard dims.reduce(1, *) == full else { throw c.fail("target \(target) holds \(dims.reduce(1, *)) elements, the input \(full)") }
    return dims
  }

  func transpose(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let rank = try c.value(0).constant?.shape.count ?? c.runtime(0).rank
    let perm = try c.ints("perm") ?? Array((0..<rank).reversed())
    guard perm.sorted() == Array(0..<rank) else { throw c.fail("perm \(perm) is not a permutation of 0..<\(rank)") }
    if let k = (try c.value(0)).constant { return [.constant(k.transposed(perm))] }
    let x = try c.runtime(0)
    guard perm[0] == 0 else { throw c.fail("perm \(perm) moves the batch axis") }
    if perm == Array(0..<rank) { return [.runtime(x)] }
    let sample = perm.dropFirst().map { x.sample[$0 - 1] }
    return [.runtime(RuntimeValue(node: c.add(Transpose(perm), [x]), sample: sample))]
  }

  /// The axes of Squeeze / Unsqueeze: an attribute before opset 13, an input from 13 on.
  func squeezeAxes(_ c: NodeContext) throws -> [Int]? {
    opset >= 13 ? (c.has(1) ? try c.ints(1) : nil) : try c.ints("axes")
  }

  func squeeze(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...2)
    let shape = try c.value(0).constant?.shape ?? [ConstantTensor.batchPlaceholder] + c.runtime(0).sample
    let axes = try squeezeAxes(c)?.map { try normalizedAxis($0, rank: shape.count, c) }
    var out: [Int] = []
    for (k, d) in shape.enumerated() {
      let drop = axes.map { $0.contains(k) } ?? (d == 1)
      if drop && d != 1 { throw c.fail("axis \(k) has size \(d), not 1") }
      if !drop { out.append(d) }
    }
    if let k = (try c.value(0)).constant { return [.constant(k.reshaped(out))] }
    guard out.first == ConstantTensor.batchPlaceholder else { throw c.fail("squeezing the batch axis is not supported") }
    return [.runtime(reshapeNode(c, try c.runtime(0), to: Array(out.dropFirst())))]
  }

  func unsqueeze(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...2)
    let shape = try c.value(0).constant?.shape ?? [ConstantTensor.batchPlaceholder] + c.runtime(0).sample
    guard let rawAxes = try squeezeAxes(c), !rawAxes.isEmpty else { throw c.fail("axes are missing") }
    let rank = shape.count + rawAxes.count
    let axes = Set(try rawAxes.map { try normalizedAxis($0, rank: rank, c) })
    guard axes.count == rawAxes.count else { throw c.fail("axes \(rawAxes) repeat") }
    var out: [Int] = [], source = shape.makeIterator()
    for k in 0..<rank { out.append(axes.contains(k) ? 1 : source.next()!) }
    if let k = (try c.value(0)).constant { return [.constant(k.reshaped(out))] }
    guard out.first == ConstantTensor.batchPlaceholder else { throw c.fail("inserting an axis before the batch axis is not supported") }
    return [.runtime(reshapeNode(c, try c.runtime(0), to: Array(out.dropFirst())))]
  }

  func concat(_ c: NodeContext) throws -> [ImportValue] {
    guard !c.inputs.isEmpty, c.inputs.allSatisfy({ $0 != nil }) else { throw c.fail("needs at least one input") }
    let raw = try c.int("axis")
    if c.inputs.allSatisfy({ $0!.constant != nil }) {
      let parts = c.inputs.map { $0!.constant! }
      let rank = parts[0].shape.count
      let axis = try normalizedAxis(raw, rank: rank, c)
      for p in parts where p.shape.count != rank || p.shape.enumerated().contains(where: { $0.offset != axis && $0.element != parts[0].shape[$0.offset] }) {
        throw c.fail("constant inputs \(parts.map(\.shape)) do not concatenate on axis \(axis)")
      }
      return [.constant(ConstantTensor.concatenated(parts, axis: axis))]
    }
    let xs = try c.inputs.indices.map { try c.runtime($0) }
    let axis = try normalizedAxis(raw, rank: xs[0].rank, c)
    guard axis >= 1 else { throw c.fail("concatenating along the batch axis is not supported") }
    for x in xs where x.rank != xs[0].rank || x.sample.enumerated().contains(where: { $0.offset != axis - 1 && $0.element != xs[0].sample[$0.offset] }) {
      throw c.fail("inputs \(xs.map(\.sample)) (batch axis left out) do not concatenate on axis \(axis)")
    }
    if xs.count == 1 { return [.runtime(xs[0])] }
    var sample = xs[0].sample
    sample[axis - 1] = xs.reduce(0) { $0 + $1.sample[axis - 1] }
    return [.runtime(RuntimeValue(node: c.add(Concat(axis: axis), xs), sample: sample))]
  }
}

extension ConstantTensor {
  /// The batch axis in shapes built for shape arithmetic (a size no real axis has).
  static let batchPlaceholder = -7
}
