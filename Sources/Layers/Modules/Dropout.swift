import Autograd
import TensorCore

/// Dropout: in training, zeroes elements with probability p and scales the rest by 1/(1−p).
/// Masks come from a generator seeded at construction and advanced once per call; the call count
/// is a buffer, so checkpoints resume the same mask sequence.
public final class Dropout: GridPreserving {
  public let probability: Float
  public let seed: UInt64
  public let calls = Buffer(Tensor([0]))
  public private(set) var phase: Phase = .training

  public init(probability: Float = 0.5, seed: UInt64) {
    precondition(probability >= 0 && probability < 1, "Dropout: probability must be in [0, 1)")
    self.probability = probability
    self.seed = seed
  }

  public func setPhase(_ phase: Phase) { self.phase = phase }
  public var namedBuffers: [(name: String, buffer: Buffer)] { [("calls", calls)] }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "Dropout")
    guard phase == .training, probability > 0 else { return x }
    let call = UInt64(calls.value.scalar)
    calls.value = Tensor([Float(call + 1)])
    var rng = RandomGenerator(seed: seed &+ call &* 0x9E37_79B9_7F4A_7C15)
    let keep = 1 - probability
    let mask = Tensor(shape: x.shape) { buf in
      for i in 0..<buf.count { buf[i] = rng.nextFloat() < keep ? 1 / keep : 0 }
    }
    return x * mask
  }
}
