import Autograd
import Layers
import TensorCore

/// Cross-layer equalization (Nagel et al. 2019, "Data-free quantization"; AIMET's equalize_model,
/// vai_q's include_cle): for two `ChannelScalable` layers joined through a positively
/// homogeneous activation (ReLU, LeakyReLU, none), f(x / s) = f(x) / s for s > 0, so dividing
/// output channel c of the first layer by s_c and multiplying input channel c of the second by
/// s_c changes no output.
/// Choosing s_c = sqrt(r1_c · r2_c) / r2_c, with r1_c and r2_c the channel's largest |weight| in
/// each layer, gives both the same range sqrt(r1_c · r2_c): per-tensor weight formats then waste
/// fewer levels on a few wide channels.
///
/// A batch norm between the first layer and the activation stays in place: its γ and β carry
/// the 1 / s_c (the range of the first layer is that of its BN-folded weight, with running
/// statistics), so the transform is exact with live or frozen statistics. ReLU6 is not
/// homogeneous (its clip at 6 would move) and stops a pair, as does any branch.
public enum CrossLayerEqualization {
  /// One equalizable pair, by node index.
  public struct Pair: Equatable, Sendable {
    public var first: Int
    public var batchNorm: Int?
    public var second: Int
  }

  /// Applies `steps` rounds of equalization over every pair (chains of more than two layers
  /// converge over the rounds; vai_q's cle_steps). Returns the pairs, by node names.
  @discardableResult
  public static func equalize(_ model: Model, steps: Int = 10) -> [(first: String, second: String)] {
    precondition(steps >= 1, "CrossLayerEqualization: steps must be ≥ 1, got \(steps)")
    let found = pairs(in: model)
    for _ in 0..<steps { for p in found { equalize(p, in: model) } }
    return found.map { (model.nodes[$0.first].name, model.nodes[$0.second].name) }
  }

  /// The pairs first layer [→ batch norm] [→ positively homogeneous activation] → second layer,
  /// both `ChannelScalable`, where every intermediate output has exactly one reader (no residual
  /// branch sees the rescaled tensor).
  public static func pairs(in model: Model) -> [Pair] {
    var found: [Pair] = []
    func soleConsumer(_ j: Int) -> Int? {
      let c = model.consumers(of: j)
      return c.count == 1 && !model.outputNodes.contains(j) && model.nodes[c[0]].inputs == [j] ? c[0] : nil
    }
    for (i, node) in model.nodes.enumerated() {
      guard let first = node.layer as? any ChannelScalable, var next = soleConsumer(i) else { continue }
      var bn: Int?
      if model.nodes[next].layer is any BatchNormalization {
        bn = next
        guard let n = soleConsumer(next) else { continue }
        next = n
      }
      if model.nodes[next].layer is any PositivelyHomogeneous {
        guard let n = soleConsumer(next) else { continue }
        next = n
      }
      guard let second = model.nodes[next].layer as? any ChannelScalable, first.outputChannels == second.inputChannels else { continue }
      found.append(Pair(first: i, batchNorm: bn, second: next))
    }
    return found
  }

  /// The per-channel scale factors for ranges r1 (first layer, per output channel) and r2 (second
  /// layer, per input channel); channels with a zero range on either side keep s = 1.
  public static func scales(firstRanges r1: [Float], secondRanges r2: [Float]) -> [Float] {
    zip(r1, r2).map { a, b in a > 0 && b > 0 ? (a * b).squareRoot() / b : 1 }
  }

  static func equalize(_ pair: Pair, in model: Model) {
    let first = model.nodes[pair.first].layer as! any ChannelScalable
    let second = model.nodes[pair.second].layer as! any ChannelScalable
    let bn = pair.batchNorm.map { model.nodes[$0].layer as! any BatchNormalization }
    var r1 = first.outputChannelRanges()
    if let bn { r1 = zip(r1, BatchNormFolding.affine(of: bn).scale).map { $0 * abs($1) } }
    let s = scales(firstRanges: r1, secondRanges: second.inputChannelRanges())
    if let bn {
      bn.weight.value = Tensor(zip(bn.weight.value.scalars, s).map { $0 / $1 })
      bn.bias.value = Tensor(zip(bn.bias.value.scalars, s).map { $0 / $1 })
    } else {
      first.divideOutputChannels(by: s)
    }
    second.multiplyInputChannels(by: s)
  }
}
