import Autograd
import Layers
import TensorCore

/// Cross-layer equalization (Nagel et al. 2019, "Data-free quantization"; AIMET's equalize_model,
/// vai_q's include_cle): for two layers joined through a positively homogeneous activation
/// (ReLU, LeakyReLU, none), f(x / s) = f(x) / s for s > 0, so dividing output channel c of the
/// first layer by s_c and multiplying input channel c of the second by s_c changes no output.
/// Choosing s_c = sqrt(r1_c · r2_c) / r2_c, with r1_c and r2_c the channel's largest |weight| in
/// each layer, gives both the same range sqrt(r1_c · r2_c): per-tensor weight formats then waste
/// fewer levels on a few wide channels.
///
/// A BatchNorm2D between the first layer and the activation stays in place: its γ and β carry
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

  /// The pairs first layer [→ BatchNorm2D] [→ ReLU / LeakyReLU] → second layer, where every
  /// intermediate output has exactly one reader (no residual branch sees the rescaled tensor).
  public static func pairs(in model: Model) -> [Pair] {
    var found: [Pair] = []
    for (i, node) in model.nodes.enumerated() where isWeightLayer(node.layer) {
      var at = i
      var bn: Int?
      func soleConsumer(_ j: Int) -> Int? {
        let c = model.consumers(of: j)
        return c.count == 1 && !model.outputNodes.contains(j) && model.nodes[c[0]].inputs == [j] ? c[0] : nil
      }
      guard var next = soleConsumer(at) else { continue }
      if model.nodes[next].layer is BatchNorm2D {
        bn = next
        at = next
        guard let n = soleConsumer(at) else { continue }
        next = n
      }
      if model.nodes[next].layer is ReLU || model.nodes[next].layer is LeakyReLU {
        at = next
        guard let n = soleConsumer(at) else { continue }
        next = n
      }
      guard isWeightLayer(model.nodes[next].layer), channels(out: node.layer) == channels(in: model.nodes[next].layer) else { continue }
      found.append(Pair(first: i, batchNorm: bn, second: next))
    }
    return found
  }

  static func isWeightLayer(_ layer: any Layer) -> Bool { layer is Conv2D || layer is Linear }

  static func channels(out layer: any Layer) -> Int {
    (layer as? Conv2D)?.outChannels ?? (layer as? Linear)?.outFeatures ?? 0
  }

  static func channels(in layer: any Layer) -> Int {
    (layer as? Conv2D)?.inChannels ?? (layer as? Linear)?.inFeatures ?? 0
  }

  /// The per-channel scale factors for ranges r1 (first layer, per output channel) and r2 (second
  /// layer, per input channel); channels with a zero range on either side keep s = 1.
  public static func scales(firstRanges r1: [Float], secondRanges r2: [Float]) -> [Float] {
    zip(r1, r2).map { a, b in a > 0 && b > 0 ? (a * b).squareRoot() / b : 1 }
  }

  static func equalize(_ pair: Pair, in model: Model) {
    let first = model.nodes[pair.first].layer, second = model.nodes[pair.second].layer
    let bn = pair.batchNorm.map { model.nodes[$0].layer as! BatchNorm2D }
    let w1 = weight(of: first)
    var r1 = outputRanges(w1.value)
    if let bn {
      let scale = BatchNormFolding.affine(of: bn).scale
      r1 = zip(r1, scale).map { $0 * abs($1) }
    }
    let w2 = weight(of: second)
    let r2 = inputRanges(w2.value, groups: (second as? Conv2D)?.geometry.groups ?? 1)
    let s = scales(firstRanges: r1, secondRanges: r2)
    if let bn {
      bn.weight.value = Tensor(zip(bn.weight.value.scalars, s).map { $0 / $1 })
      bn.bias.value = Tensor(zip(bn.bias.value.scalars, s).map { $0 / $1 })
    } else {
      w1.value = scaledOutputs(w1.value, by: s.map { 1 / $0 })
      if let b = bias(of: first) { b.value = Tensor(zip(b.value.scalars, s).map { $0 / $1 }) }
    }
    w2.value = scaledInputs(w2.value, by: s, groups: (second as? Conv2D)?.geometry.groups ?? 1)
  }

  static func weight(of layer: any Layer) -> Parameter { (layer as? Conv2D)?.weight ?? (layer as! Linear).weight }
  static func bias(of layer: any Layer) -> Parameter? { (layer as? Conv2D)?.bias ?? (layer as? Linear)?.bias }

  /// max |w| per output channel of a weight [out, ...].
  static func outputRanges(_ w: Tensor) -> [Float] {
    let out = w.shape[0], per = w.count / out, v = w.scalars
    return (0..<out).map { o in (0..<per).reduce(Float(0)) { max($0, abs(v[o * per + $1])) } }
  }

  /// max |w| per input channel of a weight [out, in/groups, ...] (Linear: groups 1, no taps).
  static func inputRanges(_ w: Tensor, groups: Int) -> [Float] {
    var r = [Float](repeating: 0, count: w.shape[1] * groups)
    forEachInput(w, groups: groups) { _, channel, value in r[channel] = max(r[channel], abs(value)) }
    return r
  }

  static func scaledOutputs(_ w: Tensor, by s: [Float]) -> Tensor {
    let per = w.count / w.shape[0]
    var v = w.scalars
    for i in v.indices { v[i] *= s[i / per] }
    return Tensor(v, shape: w.shape)
  }

  static func scaledInputs(_ w: Tensor, by s: [Float], groups: Int) -> Tensor {
    var v = w.scalars
    forEachInput(w, groups: groups) { index, channel, _ in v[index] *= s[channel] }
    return Tensor(v, shape: w.shape)
  }

  /// Visits every weight element with the global input channel it reads.
  static func forEachInput(_ w: Tensor, groups: Int, _ body: (Int, Int, Float) -> Void) {
    let out = w.shape[0], inPerGroup = w.shape[1]
    let taps = w.count / (out * inPerGroup), outPerGroup = out / groups
    let v = w.scalars
    for o in 0..<out {
      let group = o / outPerGroup
      for c in 0..<inPerGroup {
        let base = (o * inPerGroup + c) * taps
        for t in 0..<taps { body(base + t, group * inPerGroup + c, v[base + t]) }
      }
    }
  }
}
