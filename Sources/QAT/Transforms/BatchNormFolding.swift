import Autograd
import Layers
import TensorCore

/// Folding batch normalisation into the preceding weight-bearing layer (post-training), with the
/// batch norm's own fold formula (`BatchNormalization.foldedWeight` / `foldedBias`: w' = w · s,
/// b' = (b − μ) · s + β, s = γ / sqrt(σ² + ε) per output channel) — the one QAT's folded layers
/// and batch-norm inference use too.
public enum BatchNormFolding {
  /// Per-channel multipliers s and offsets β − μ·s of a batch norm in inference mode.
  public static func affine(of bn: any BatchNormalization) -> (scale: [Float], shift: [Float]) {
    let s = bn.foldScale
    return (s.detached.scalars, bn.foldedBias(nil, scale: s).detached.scalars)
  }

  /// The folded weight and bias of a layer whose output channels lie on `axis` of its weight.
  public static func fold(weight: Tensor, bias: Tensor?, axis: Int = 0, into bn: any BatchNormalization) -> (weight: Tensor, bias: Tensor) {
    let s = bn.foldScale.detached
    return (bn.foldedWeight(weight, axis: axis, scale: s).detached, bn.foldedBias(bias, scale: s).detached)
  }

  /// Folds every batch norm that directly follows a weight-bearing layer (whose output feeds only
  /// the batch norm) into that layer and removes the batch-norm node. Returns the names of the
  /// folded batch norms.
  @discardableResult
  public static func foldAll(in model: Model) -> [String] {
    var folded: [String] = []
    var i = 0
    while i < model.nodes.count {
      let node = model.nodes[i]
      guard let bn = node.layer as? any BatchNormalization, node.inputs.count == 1,
            model.consumers(of: node.inputs[0]) == [i],
            let layer = model.nodes[node.inputs[0]].layer as? any WeightBearing else { i += 1; continue }
      let (w, b) = fold(weight: layer.weight.value, bias: layer.bias?.value, axis: layer.outputChannelAxis, into: bn)
      model.replaceLayer(at: node.inputs[0], with: layer.with(weight: w, bias: b))
      folded.append(node.name)
      model.bypass(i)
    }
    return folded
  }
}
