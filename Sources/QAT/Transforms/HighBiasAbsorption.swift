import Autograd
import Layers
import TensorCore

/// High-bias absorption (Nagel et al. 2019, section 4.2): after equalization, a channel of the
/// first layer of a pair may carry a large bias, which widens its activation range. With its
/// batch-norm output close to N(β_c, γ_c²), the ReLU input stays above c_c = max(0, β_c − 3|γ_c|)
/// almost always, and there ReLU(x) = ReLU(x − c) + c: so β_c loses c_c and the second layer's
/// output gains W2 · c (its bias, or the running mean of the batch norm after it). Exact whenever
/// the ReLU input is at least c; applied only where the second layer sees no padding (a 1×1 or
/// fully connected layer), where a constant input shift adds exactly W2 · c to every output.
public enum HighBiasAbsorption {
  /// Absorbs what it can for one equalized pair; nil when the pair does not qualify (no batch
  /// norm, no ReLU between, a padded second layer, nowhere to add the shift), else the number of
  /// channels that moved.
  static func absorb(_ pair: CrossLayerEqualization.Pair, in model: Model) -> Int? {
    guard let b = pair.batchNorm, let bn = model.nodes[b].layer as? any BatchNormalization,
          let act = model.consumers(of: b).first, (model.nodes[act].layer as? any ActivationLayer)?.fusedActivation == .relu,
          let second = model.nodes[pair.second].layer as? any ChannelScalable, let pad = second as? any PaddingFree,
          pad.hasNoPadding else { return nil }
    let gamma = bn.weight.value.scalars, beta = bn.bias.value.scalars
    let c = zip(beta, gamma).map { max(0, $0 - 3 * abs($1)) }
    guard c.contains(where: { $0 > 0 }) else { return 0 }
    // the second layer's output shift, per output channel: Σ over input channels and taps of W2 · c
    let w = second.weight.value, shift = ChannelLayout.inputWeightedSums(w, by: c, groups: second.groups)
    if let bias = second.bias {
      bias.value = Tensor(zip(bias.value.scalars, shift).map { $0 + $1 }, shape: bias.value.shape)
    } else if let next = model.consumers(of: pair.second).first, model.consumers(of: pair.second).count == 1,
              let bn2 = model.nodes[next].layer as? any BatchNormalization {
      bn2.runningMean.value = Tensor(zip(bn2.runningMean.value.scalars, shift).map { $0 - $1 }, shape: bn2.runningMean.value.shape)
    } else {
      return nil
    }
    bn.bias.value = Tensor(zip(beta, c).map { $0 - $1 }, shape: bn.bias.value.shape)
    return c.filter { $0 > 0 }.count
  }
}

/// A weight-bearing layer that can say whether it pads its input (a constant input shift then
/// adds the same amount to every output only without padding).
public protocol PaddingFree: Layer {
  var hasNoPadding: Bool { get }
}

extension Conv2D: PaddingFree {
  public var hasNoPadding: Bool { geometry.padTop == 0 && geometry.padLeft == 0 && geometry.padBottom == 0 && geometry.padRight == 0 }
}

extension Linear: PaddingFree {
  public var hasNoPadding: Bool { true }
}
