import Layers
import TensorCore

extension Importer {
  /// Gemm: alpha · A · op(B) + beta · C with A computed [N, K] and B, C constant → `Linear`
  /// (weight op(B)ᵀ · alpha, bias beta · C, which must be one value per output or a scalar).
  func gemm(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(2...3)
    let a = try c.runtime(0)
    guard a.rank == 2 else { throw c.fail("input A must be [N, K], got [N] + \(a.sample)") }
    if try c.int("transA", default: 0) != 0 { throw c.fail("transA 1 (transposing the batch axis) is not supported") }
    let b = try c.constant(1)
    guard b.shape.count == 2 else { throw c.fail("B '\(c.inputName(1))' must be a matrix, got \(b.shape)") }
    let transB = try c.int("transB", default: 0) != 0
    let alpha = try c.float("alpha", default: 1), beta = try c.float("beta", default: 1)
    var weight = transB ? b : b.transposed([1, 0])  // [out, K]
    guard weight.shape[1] == a.sample[0] else {
      throw c.fail("A has \(a.sample[0]) features, B \(b.shape) (transB \(transB ? 1 : 0)) expects \(weight.shape[1])")
    }
    if alpha != 1 { weight = ConstantTensor(shape: weight.shape, floats: weight.floats.map { $0 * alpha }) }
    let out = weight.shape[0]
    var names: [String: String] = [:]
    try c.claim(1, as: "weight", into: &names)
    var bias: Tensor? = nil
    if let k = try c.optionalConstant(2), beta != 0 {
      let padded = [Int](repeating: 1, count: max(0, 2 - k.shape.count)) + k.shape
      guard k.shape.count <= 2, padded[0] == 1, padded[1] == out || padded[1] == 1 else {
        throw c.fail("C '\(c.inputName(2))' \(k.shape) is not one value per output ([\(out)] or a scalar)")
      }
      let v = k.floats.count == 1 ? [Float](repeating: k.floats[0], count: out) : k.floats
      bias = Tensor(v.map { $0 * beta })
      try c.claim(2, as: "bias", into: &names)
    }
    let node = c.add(Linear(weight: weight.tensor, bias: bias), [a], tensorNames: names)
    return [.runtime(RuntimeValue(node: node, sample: [out]))]
  }

  /// MatMul: computed × constant [K, M] → `Linear` over the last axis; two computed tensors →
  /// `MatMul` (batch axes broadcast); constants fold.
  func matMul(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(2...2)
    switch ((try c.value(0)), (try c.value(1))) {
    case (.runtime(let a), .constant(let b)):
      guard b.shape.count == 2, a.rank >= 2, a.sample.last == b.shape[0] else {
        throw c.fail("[N] + \(a.sample) × \(b.shape): only a constant matrix [K, M] whose K is the last input axis is supported")
      }
      var names: [String: String] = [:]
      try c.claim(1, as: "weight", into: &names)
      let node = c.add(Linear(weight: b.transposed([1, 0]).tensor, bias: nil), [a], tensorNames: names)
      return [.runtime(RuntimeValue(node: node, sample: Array(a.sample.dropLast()) + [b.shape[1]]))]
    case (.runtime(let a), .runtime(let b)):
      guard a.rank >= 3, b.rank >= 3, a.sample.last == b.sample[b.sample.count - 2],
            let batch = ConstantTensor.broadcastShape(Array(a.sample.dropLast(2)), Array(b.sample.dropLast(2))) else {
        throw c.fail("[N] + \(a.sample) × [N] + \(b.sample) do not multiply (matrices on the last two axes)")
      }
      let sample = batch + [a.sample[a.sample.count - 2], b.sample.last!]
      return [.runtime(RuntimeValue(node: c.add(MatMul(), [a, b]), sample: sample))]
    case (.constant(let a), .constant(let b)):
      guard a.shape.count == 2, b.shape.count == 2, a.shape[1] == b.shape[0] else { throw c.fail("constant MatMul of \(a.shape) × \(b.shape) is not supported") }
      let (n, k, m) = (a.shape[0], a.shape[1], b.shape[1])
      let x = a.floats, y = b.floats
      var out = [Float](repeating: 0, count: n * m)
      for i in 0..<n { for j in 0..<m { var s: Float = 0; for t in 0..<k { s += x[i * k + t] * y[t * m + j] }; out[i * m + j] = s } }
      return [.constant(ConstantTensor(shape: [n, m], floats: out))]
    default:
      throw c.fail("a constant × computed tensor product is not supported")
    }
  }
}
