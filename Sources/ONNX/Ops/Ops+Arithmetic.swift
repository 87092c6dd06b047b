import Layers
import TensorCore

extension Importer {
  func add(_ c: NodeContext) throws -> [ImportValue] { try arithmetic(c, .add) }
  func sub(_ c: NodeContext) throws -> [ImportValue] { try arithmetic(c, .subtract) }
  func mul(_ c: NodeContext) throws -> [ImportValue] { try arithmetic(c, .multiply) }
  func div(_ c: NodeContext) throws -> [ImportValue] { try arithmetic(c, .divide) }

  /// Add / Sub / Mul / Div with broadcasting: constants fold; a per-channel (or scalar) constant
  /// folds into the weight-bearing layer, batch norm or channel affine before it when this node is
  /// that tensor's only reader, else becomes a `ChannelAffine`; other constants an `Elementwise`
  /// with the constant; two computed tensors a residual `Add` (same shape), SiLU (x · sigmoid(x))
  /// or an `Elementwise` of both.
  func arithmetic(_ c: NodeContext, _ op: Elementwise.Operation) throws -> [ImportValue] {
    try c.requireInputs(2...2)
    let folding: [Elementwise.Operation: ConstantTensor.Arithmetic] = [.add: .add, .subtract: .subtract, .multiply: .multiply, .divide: .divide]
    switch ((try c.value(0)), (try c.value(1))) {
    case (.constant(let a), .constant(let b)):
      return [.constant(try ConstantTensor.combine(a, b, folding[op]!, "node '\(c.name)'"))]
    case (.runtime(let a), .runtime(let b)):
      return [.runtime(try binaryOfTensors(c, op, a, b))]
    case (.runtime(let x), .constant(let k)):
      return [.runtime(try withConstant(c, op, x, k, constantFirst: false))]
    case (.constant(let k), .runtime(let x)):
      let commutes = op == .add || op == .multiply
      return [.runtime(try withConstant(c, op, x, k, constantFirst: !commutes))]
    default:
      throw c.fail("an input is unknown")
    }
  }

  func binaryOfTensors(_ c: NodeContext, _ op: Elementwise.Operation, _ a: RuntimeValue, _ b: RuntimeValue) throws -> RuntimeValue {
    guard let sample = ConstantTensor.broadcastShape(a.sample, b.sample) else {
      throw c.fail("inputs [N] + \(a.sample) and [N] + \(b.sample) do not broadcast")
    }
    if op == .add && a.sample == b.sample { return RuntimeValue(node: c.add(Add(), [a, b]), sample: sample) }
    if op == .multiply && a.sample == b.sample {
      for (x, gate) in [(a, b), (b, a)] where graph.nodes[gate.node].layer is Sigmoid && graph.nodes[gate.node].inputs == [x.node] {
        return RuntimeValue(node: c.add(SiLU(), [x]), sample: sample)  // the sigmoid drops out unless read elsewhere
      }
    }
    return RuntimeValue(node: c.add(Elementwise(op), [a, b]), sample: sample)
  }

  func withConstant(_ c: NodeContext, _ op: Elementwise.Operation, _ x: RuntimeValue, _ k: ConstantTensor,
                    constantFirst: Bool) throws -> RuntimeValue {
    let full = [1] + x.sample
    guard k.count > 0, let out = ConstantTensor.broadcastShape(full, k.shape), out.count == full.count, out[0] == 1 else {
      throw c.fail("constant \(k.shape) does not broadcast to [N] + \(x.sample) without changing the batch axis")
    }
    if out == full, !constantFirst || op == .subtract, let v = perChannel(k, full) {
      let (scale, shift): ([Float], [Float])
      switch op {
      case .add: (scale, shift) = (v.map { _ in 1 }, v)
      case .subtract: (scale, shift) = constantFirst ? (v.map { _ in -1 }, v) : (v.map { _ in 1 }, v.map { -$0 })
      case .multiply: (scale, shift) = (v, v.map { _ in 0 })
      case .divide: (scale, shift) = (v.map { 1 / $0 }, v.map { _ in 0 })
      }
      if let folded = try foldIntoProducer(c, x, op: constantFirst ? nil : op, v, scale: scale, shift: shift) { return folded }
      let node = c.add(ChannelAffine(scale: Tensor(scale), shift: Tensor(shift)), [x])
      return RuntimeValue(node: node, sample: x.sample)
    }
    if out == full, op == .add || (op == .subtract && !constantFirst), let folded = try foldLastAxisBias(c, op, x, k) { return folded }
    // broadcast from the right; a constant of the input's rank has 1 on the batch axis (checked above)
    let node = c.add(Elementwise(op, constant: k.tensor, constantFirst: constantFirst), [x])
    return RuntimeValue(node: node, sample: Array(out.dropFirst()))
  }

  /// The per-channel values of a constant that varies at most along axis 1 of `full` (a scalar
  /// repeats for every channel).
  func perChannel(_ k: ConstantTensor, _ full: [Int]) -> [Float]? {
    guard full.count >= 2 else { return nil }
    let channels = full[1]
    let padded = [Int](repeating: 1, count: full.count - k.shape.count) + k.shape
    guard padded.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }), padded[1] == 1 || padded[1] == channels else { return nil }
    let values = k.floats
    return values.count == 1 ? [Float](repeating: values[0], count: channels) : values
  }

  /// Folds a per-channel scale and shift into the node that produced x, when x has no other
  /// reader: a weight-bearing layer with output channels on axis 1 of its output, a batch norm,
  /// or a channel affine. `op` is nil for c − x (only the affine form folds). Returns the
  /// producer's value, or nil when nothing folded.
  func foldIntoProducer(_ c: NodeContext, _ x: RuntimeValue, op: Elementwise.Operation?, _ v: [Float],
                        scale: [Float], shift: [Float]) throws -> RuntimeValue? {
    guard c.isSoleReader(of: c.inputs[0]?.runtime != nil ? 0 : 1), graph.consumers(of: x.node).isEmpty,
          !graph.inputs.contains(x.node) else { return nil }
    let producer = graph.nodes[x.node].layer
    if let affine = producer as? ChannelAffine {
      let s = affine.scale.value.scalars, t = affine.shift.value.scalars
      graph.nodes[x.node].layer = ChannelAffine(scale: Tensor(zip(s, scale).map { $0 * $1 }),
                                                shift: Tensor(zip(zip(t, scale), shift).map { $0.0 * $0.1 + $1 }))
      return x
    }
    guard let op else { return nil }
    if let bn = producer as? any BatchNormalization {
      let g = bn.weight.value.scalars, b = bn.bias.value.scalars
      switch op {
      case .multiply, .divide:
        bn.weight.value = Tensor(zip(g, v).map { op == .multiply ? $0 * $1 : $0 / $1 })
        bn.bias.value = Tensor(zip(b, v).map { op == .multiply ? $0 * $1 : $0 / $1 })
      case .add, .subtract:
        bn.bias.value = Tensor(zip(b, v).map { op == .add ? $0 + $1 : $0 - $1 })
      }
      return x
    }
    guard let layer = producer as? any WeightBearing, layer.outputChannels == v.count,
          layer.outputChannelAxis(inOutputOfRank: x.rank) == 1 else { return nil }
    let axis = layer.outputChannelAxis
    let w = layer.weight.value, b = layer.bias?.value.scalars ?? [Float](repeating: 0, count: v.count)
    guard w.shape[axis] == v.count else { return nil }
    var weight = w, bias = b
    switch op {
    case .multiply, .divide:
      var dims = [Int](repeating: 1, count: w.rank)
      dims[axis] = v.count
      let factor = Tensor(v, shape: Shape(dims))
      weight = op == .multiply ? Kernels.binary(.multiply, w, factor) : Kernels.binary(.divide, w, factor)
      bias = zip(b, v).map { op == .multiply ? $0 * $1 : $0 / $1 }
    case .add, .subtract:
      bias = zip(b, v).map { op == .add ? $0 + $1 : $0 - $1 }
    }
    graph.nodes[x.node].layer = layer.with(weight: weight, bias: Tensor(bias))
    return x
  }

  /// Folds the Add (or Sub) of a constant along the last axis into a linear layer over that axis
  /// before it (PyTorch's export of Linear on [N, ..., K]: MatMul, then Add of the bias), when this
  /// node is the product's only reader. The initializer becomes the layer's bias when it had none.
  func foldLastAxisBias(_ c: NodeContext, _ op: Elementwise.Operation, _ x: RuntimeValue, _ k: ConstantTensor) throws -> RuntimeValue? {
    guard x.rank >= 3, let m = x.sample.last, k.count == m, k.shape.last == m, k.shape.dropLast().allSatisfy({ $0 == 1 }),
          c.isSoleReader(of: c.inputs[0]?.runtime != nil ? 0 : 1), graph.consumers(of: x.node).isEmpty, !graph.inputs.contains(x.node),
          let layer = graph.nodes[x.node].layer as? any WeightBearing, layer.outputChannels == m,
          layer.outputChannelAxis(inOutputOfRank: x.rank) == x.rank - 1 else { return nil }
    let v = k.floats.map { op == .add ? $0 : -$0 }
    let old = layer.bias?.value.scalars
    graph.nodes[x.node].layer = layer.with(weight: layer.weight.value, bias: Tensor(old.map { zip($0, v).map(+) } ?? v))
    let index = c.inputs[1]?.constant != nil ? 1 : 0, name = c.inputName(index)
    if old == nil, op == .add, useCount(name) == 1, claimed[name] == nil {
      try c.claim(index, as: "bias", into: &graph.nodes[x.node].tensorNames)
    }
    return x
  }
}
