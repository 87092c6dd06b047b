import Autograd
import Layers
import TensorCore

/// Folding batch normalisation into the preceding convolution or linear layer — the one place the
/// formula lives: w' = w · γ / sqrt(σ² + ε) per output channel, b' = (b − μ) · γ / sqrt(σ² + ε) + β.
public enum BatchNormFolding {
  /// Per-channel multipliers γ / sqrt(σ² + ε) and offsets β − μ·γ / sqrt(σ² + ε) of a BN in
  /// inference mode.
  public static func affine(of bn: BatchNorm2D) -> (scale: [Float], shift: [Float]) {
    let g = bn.weight.value.scalars, b = bn.bias.value.scalars
    let m = bn.runningMean.value.scalars, v = bn.runningVar.value.scalars
    let scale = (0..<bn.channels).map { g[$0] / (v[$0] + bn.epsilon).squareRoot() }
    let shift = (0..<bn.channels).map { b[$0] - m[$0] * scale[$0] }
    return (scale, shift)
  }

  /// The folded weight and bias for a layer weight [out, ...] and optional bias [out].
  public static func fold(weight: Tensor, bias: Tensor?, into bn: BatchNorm2D) -> (weight: Tensor, bias: Tensor) {
    precondition(weight.shape[0] == bn.channels, "BN fold: weight \(weight.shape) has \(weight.shape[0]) outputs, BN \(bn.channels) channels")
    let (scale, shift) = affine(of: bn)
    let perChannel = weight.count / bn.channels
    var w = weight.scalars
    for c in 0..<bn.channels { for k in 0..<perChannel { w[c * perChannel + k] *= scale[c] } }
    let b0 = bias?.scalars ?? [Float](repeating: 0, count: bn.channels)
    let b = (0..<bn.channels).map { b0[$0] * scale[$0] + shift[$0] }
    return (Tensor(w, shape: weight.shape), Tensor(b))
  }

  /// Folds every BatchNorm2D that directly follows a Conv2D or Linear (whose output feeds only
  /// the BN) into that layer and removes the BN node. Returns the names of the folded BNs.
  @discardableResult
  public static func foldAll(in model: Model) -> [String] {
    var folded: [String] = []
    var i = 0
    while i < model.nodes.count {
      let node = model.nodes[i]
      guard let bn = node.layer as? BatchNorm2D, node.inputs.count == 1 else { i += 1; continue }
      let producer = node.inputs[0]
      guard model.consumers(of: producer) == [i] else { i += 1; continue }
      if let conv = model.nodes[producer].layer as? Conv2D {
        let (w, b) = fold(weight: conv.weight.value, bias: conv.bias?.value, into: bn)
        model.replaceLayer(at: producer, with: Conv2D(weight: w, bias: b, geometry: conv.geometry))
      } else if let linear = model.nodes[producer].layer as? Linear {
        let (w, b) = fold(weight: linear.weight.value, bias: linear.bias?.value, into: bn)
        model.replaceLayer(at: producer, with: Linear(weight: w, bias: b))
      } else {
        i += 1
        continue
      }
      folded.append(node.name)
      model.bypass(i)
    }
    return folded
  }
}
