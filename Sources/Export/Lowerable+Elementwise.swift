import Autograd
import DeployFormat
import Layers
import QAT
import TensorCore

// Element-wise layers: arithmetic of two tensors, the DPU's activations, and tables for every
// other function of one quantized input.

/// A pointwise layer on a quantized input is a function of the input code: the table holds, for
/// every code of the input format (and every channel where the layer depends on it), the output
/// code the fake-quant model computes — the layer's own forward on that value, then the output
/// quantizer's rounding — so the lookup equals the fake-quant model by construction.
enum PointwiseTable {
  /// Tables larger than this (channels × 2^bits entries) are refused.
  static let maxEntries = 1 << 22

  static func lower(_ layer: any Pointwise, _ context: inout LoweringContext) throws -> DeployNode {
    let fin = context.inputFormats[0], shape = context.inputShapes[0]
    if let problem = problem(layer, inputShape: shape) { throw context.unsupported(problem) }
    let (fout, rounding) = try context.outputFormat()
    let entries = fin.qmax - fin.qmin + 1
    let channels = shape.first ?? 1
    guard channels * entries <= maxEntries else {
      throw context.unsupported("a table of \(channels) channels × \(entries) input codes exceeds \(maxEntries) entries; quantize its input to fewer bits")
    }
    // codes along the batch axis, one value per channel: [entries, C, 1, ...]
    let probeDims = [entries] + (shape.isEmpty ? [] : [channels] + [Int](repeating: 1, count: shape.count - 1))
    let step = Float(Double(sign: .plus, exponent: -fin.fractionalBits, significand: 1))
    var values = [Float](repeating: 0, count: entries * channels)
    for l in 0..<entries { for c in 0..<channels { values[l * channels + c] = Float(fin.qmin + l) * step } }
    let probe = Tensor(values, shape: Shape(probeDims))
    let y = withFrozenParameters(layer) { layer.forward([probe]) }
    guard y.shape == probe.shape else {
      throw context.unsupported("\(layer.kind) depends on the position within the tensor (output \(y.shape) for a per-channel probe \(probe.shape)); it has no table form")
    }
    guard y.scalars.allSatisfy(\.isFinite) else { throw context.unsupported("\(layer.kind) is not finite on every code of its input format") }
    let codes = IntegerKernels.quantize(y, format: fout, rounding: rounding).codes
    var rows = (0..<channels).map { c in (0..<entries).map { codes[$0 * channels + c] } }
    if rows.allSatisfy({ $0 == rows[0] }) { rows = [rows[0]] }
    var d = context.node(.lookup)
    d.table = context.name + ".table"
    context.add(d.table!, IntTensor(shape: [rows.count, entries], codes: rows.flatMap { $0 }, format: fout))
    return d
  }

  static func problem(_ layer: any Pointwise, inputShape: [Int]) -> String? {
    layer.isPointwise(inputRank: inputShape.count + 1) ? nil
      : "\(layer.kind) with a constant varying along other axes than the channels has no table form (no integer implementation)"
  }

  static func withFrozenParameters<R>(_ layer: any Layer, _ body: () -> R) -> R {
    let params = layer.namedParameters.map(\.parameter)
    let previous = params.map { $0.requiresGradient }
    for p in params { p.requiresGradient = false }
    defer { for (p, r) in zip(params, previous) { p.requiresGradient = r } }
    return body()
  }
}

extension Sigmoid: Lowerable {}
extension Tanh: Lowerable {}
extension Hardsigmoid: Lowerable {}
extension Hardswish: Lowerable {}
extension SiLU: Lowerable {}
extension Clip: Lowerable {}
extension PReLU: Lowerable {}
extension ChannelAffine: Lowerable {}

extension Lowerable where Self: Pointwise {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func exportProblem(inputShapes: [[Int]]) -> String? { PointwiseTable.problem(self, inputShape: inputShapes.first ?? []) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { try PointwiseTable.lower(self, &context) }
}

/// LeakyReLU at the DPU's slope (simulate_dpu sets it) is the DPU's instruction; any other slope
/// is a table.
extension LeakyReLU: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard fusedActivation == .leakyRelu else { return try PointwiseTable.lower(self, &context) }
    var d = context.node(.leakyRelu)
    d.activation = .leakyRelu
    return d
  }
}

/// Two tensors: add / sub / mul with the DPU's shifts; one tensor and a constant: a table.
extension Elementwise: Lowerable {
  public var loweredOutput: LoweredOutput {
    .quantized(fusingActivation: binaryOperation == .add || binaryOperation == .subtract)
  }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    if let problem = exportProblem(inputShapes: context.inputShapes) { throw context.unsupported(problem) }
    guard let op = binaryOperation else { return try PointwiseTable.lower(self, &context) }
    return try ElementwiseShifts.node(op, &context)
  }

  public func exportProblem(inputShapes: [[Int]]) -> String? {
    if constant != nil { return PointwiseTable.problem(self, inputShape: inputShapes.first ?? []) }
    return binaryOperation == nil ? "\(operation.rawValue) of two tensors has no integer implementation in the deploy format" : nil
  }
}

enum ElementwiseShifts {
  /// The add / sub / mul node with shift_read and shift_write. A product is exact in the float32
  /// fake-quant model while the operands' bits sum to at most 24.
  static func node(_ op: BinaryOperation, _ context: inout LoweringContext) throws -> DeployNode {
    guard context.inputs.count == 2 else {
      throw context.unsupported("\(op.rawValue) of \(context.inputs.count) inputs; the deploy format takes two (split it into a chain)")
    }
    let (fout, _) = try context.outputFormat()
    let p = context.inputFormats.map(\.fractionalBits)
    var d = context.node(op == .add ? .add : (op == .subtract ? .sub : .mul))
    if op == .multiply {
      let bits = context.inputFormats.map(\.bits).reduce(0, +)
      guard bits <= 24 else {
        throw context.unsupported("a product of \(context.inputFormats.map(\.bits)) -bit inputs can round in float32 (exact up to 24 bits together); quantize its inputs to fewer bits")
      }
      d.shiftWrite = p.reduce(0, +) - fout.fractionalBits
    } else {
      d.shiftRead = p.max()! - p.min()!
      d.shiftWrite = p.min()! - fout.fractionalBits
    }
    return d
  }
}

extension DPUHardSigmoid: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    try DPUActivationCheck.input(context)
    return context.node(.hardSigmoid)
  }
}

extension DPUHardSwish: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    try DPUActivationCheck.input(context)
    return context.node(.hardSwish)
  }
}

enum DPUActivationCheck {
  /// The input position the DPU activations (and their exact fake-quant form) need.
  static func input(_ context: LoweringContext) throws {
    let p = context.inputFormats[0].fractionalBits
    guard DPUPositionRules.sigmoidInput.contains(p) else {
      throw context.unsupported("input fix position \(p) outside \(DPUPositionRules.sigmoidInput) (export with the shift rules enforced)")
    }
  }
}

extension Transpose: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(.transpose)
    d.perm = perm.dropFirst().map { $0 - 1 }
    return d
  }
}
