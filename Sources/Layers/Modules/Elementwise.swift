import Autograd
import TensorCore

/// Elementwise arithmetic with broadcasting (ONNX Add / Sub / Mul / Div): of two inputs, or of the
/// input and a constant (`constantFirst` puts the constant on the left: c − x, c / x). The
/// constant is a buffer (saved in checkpoints), not trained. Residual sums of equal shapes are
/// `Add`; per-channel constants usually fold into `ChannelAffine` instead.
public final class Elementwise: Pointwise, BinaryArithmetic {
  public enum Operation: String, Sendable, Codable { case add, subtract, multiply, divide }

  public let operation: Operation
  public let constant: Buffer?
  public let constantFirst: Bool

  public init(_ operation: Operation, constant: Tensor? = nil, constantFirst: Bool = false) {
    self.operation = operation
    self.constant = constant.map { Buffer($0) }
    self.constantFirst = constantFirst
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let (a, b): (Tensor, Tensor)
    if let constant {
      let x = single(inputs, "Elementwise")
      (a, b) = constantFirst ? (constant.value, x) : (x, constant.value)
    } else {
      precondition(inputs.count == 2, "Elementwise \(operation) takes two inputs, got \(inputs.count)")
      (a, b) = (inputs[0], inputs[1])
    }
    switch operation {
    case .add: return a + b
    case .subtract: return a - b
    case .multiply: return a * b
    case .divide: return a / b
    }
  }

  public var namedBuffers: [(name: String, buffer: Buffer)] { constant.map { [("constant", $0)] } ?? [] }
  public func flops(inputs: [Shape], output: Shape) -> Int { output.count }
  /// With a constant operand that varies at most along the channels (axis 1, right-aligned
  /// broadcasting): a function of each input element and its channel.
  public func isPointwise(inputRank: Int) -> Bool {
    guard let c = constant?.value.shape.dims, c.count <= inputRank else { return false }
    let aligned = [Int](repeating: 1, count: inputRank - c.count) + c
    return aligned.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
  }
  public var binaryOperation: BinaryOperation? {
    guard constant == nil else { return nil }
    switch operation {
    case .add: return .add
    case .subtract: return .subtract
    case .multiply: return .multiply
    case .divide: return nil
    }
  }
}

/// x · scale[c] + shift[c] along axis 1 with constant per-channel values (normalisation constants
/// or per-channel Mul / Add of an imported graph that no layer before could absorb).
public final class ChannelAffine: Pointwise {
  public let scale: Buffer
  public let shift: Buffer

  public init(scale: Tensor, shift: Tensor) {
    precondition(scale.shape == shift.shape && scale.rank == 1, "ChannelAffine: scale \(scale.shape) and shift \(shift.shape) must be [C]")
    self.scale = Buffer(scale)
    self.shift = Buffer(shift)
  }

  public var channels: Int { scale.value.count }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "ChannelAffine")
    precondition(x.rank >= 2 && x.shape[1] == channels, "ChannelAffine(\(channels)): input \(x.shape)")
    return Tensor.channelAffine(x, scale: scale.value, shift: shift.value)
  }

  public var namedBuffers: [(name: String, buffer: Buffer)] { [("scale", scale), ("shift", shift)] }
  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count }
}

/// Permutes the axes; the batch axis stays first (perm[0] == 0).
public final class Transpose: GridPreserving {
  public let perm: [Int]
  public init(_ perm: [Int]) {
    precondition(perm.first == 0 && perm.sorted() == Array(0..<perm.count), "Transpose: \(perm) must keep the batch axis first")
    self.perm = perm
  }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Transpose").permuted(perm) }
}

/// Matrix product of two inputs over their last two axes (batch axes broadcast).
public final class MatMul: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor {
    precondition(inputs.count == 2, "MatMul takes two inputs, got \(inputs.count)")
    return inputs[0].matmul(inputs[1])
  }
  public func flops(inputs: [Shape], output: Shape) -> Int {
    guard let a = inputs.first, a.rank >= 2 else { return 0 }
    return 2 * output.count * a[a.rank - 1]
  }
}
