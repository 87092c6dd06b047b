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
/// homogeneous (its clip at 6 would move) and stops a pair unless `replaceReLU6` turns it into a
/// ReLU first (as AIMET and the paper do for MobileNet v2); any branch stops a pair. Depthwise
/// layers are channel-scalable like any other (one input channel per group), so
/// Conv → DWConv → Conv chains equalize pair by pair over the rounds.
public enum CrossLayerEqualization {
  /// One equalizable pair, by node index.
  public struct Pair: Equatable, Sendable {
    public var first: Int
    public var batchNorm: Int?
    public var second: Int
  }

  /// What `run` did.
  public struct Report: Sendable {
    /// Equalized pairs, by node names.
    public var pairs: [(first: String, second: String)] = []
    /// Rounds run, and the largest |s − 1| of the last round (0 when converged exactly).
    public var rounds = 0
    public var lastChange: Float = 0
    /// Per equalized layer: max / min of its per-output-channel weight ranges (BN-folded), before
    /// and after.
    public var spread: [(layer: String, before: Float, after: Float)] = []
    /// ReLU6 nodes replaced by ReLU (replace_relu6).
    public var replacedReLU6: [String] = []
    /// Pairs whose first layer's bias moved into the second (high-bias absorption), with the
    /// number of channels that moved.
    public var absorbed: [(first: String, channels: Int)] = []
  }

  public struct Options: Sendable {
    /// Largest number of rounds over all pairs (vai_q cle_steps); equalization stops earlier once
    /// every scale of a round is within `tolerance` of 1.
    public var steps = 10
    public var tolerance: Float = 1e-4
    /// Replace ReLU6 by ReLU first so pairs through it can be equalized (changes the float model).
    public var replaceReLU6 = false
    /// High-bias absorption after equalization (Nagel et al. 2019, section 4.2).
    public var absorbHighBias = true
    public init(steps: Int = 10) { self.steps = steps }
  }

  /// Applies `steps` rounds of equalization over every pair (chains of more than two layers
  /// converge over the rounds; vai_q's cle_steps). Returns the pairs, by node names.
  @discardableResult
  public static func equalize(_ model: Model, steps: Int = 10) -> [(first: String, second: String)] {
    var options = Options(steps: steps)
    (options.tolerance, options.absorbHighBias) = (0, false)
    return run(model, options).pairs
  }

  /// Optionally replaces ReLU6 by ReLU, equalizes every pair until the scales converge (at most
  /// `options.steps` rounds), then absorbs high biases.
  public static func run(_ model: Model, _ options: Options) -> Report {
    precondition(options.steps >= 1, "CrossLayerEqualization: steps must be ≥ 1, got \(options.steps)")
    var report = Report()
    if options.replaceReLU6 { report.replacedReLU6 = replaceReLU6(in: model) }
    let found = pairs(in: model)
    let layers = Array(Set(found.map(\.first))).sorted()
    let before = layers.map { foldedRanges(model, $0, found) }
    for _ in 0..<options.steps {
      report.rounds += 1
      report.lastChange = found.map { equalize($0, in: model) }.max() ?? 0
      if report.lastChange <= options.tolerance { break }
    }
    report.spread = zip(layers, before).map { i, r in (model.nodes[i].name, spreadOf(r), spreadOf(foldedRanges(model, i, found))) }
    report.pairs = found.map { (model.nodes[$0.first].name, model.nodes[$0.second].name) }
    if options.absorbHighBias {
      for p in found { if let n = HighBiasAbsorption.absorb(p, in: model), n > 0 { report.absorbed.append((model.nodes[p.first].name, n)) } }
    }
    return report
  }

  /// ReLU6 activations (the fused relu6 form) become ReLU; returns their names.
  public static func replaceReLU6(in model: Model) -> [String] {
    model.nodes.indices.compactMap { i in
      guard (model.nodes[i].layer as? any ActivationLayer)?.fusedActivation == .relu6 else { return nil }
      model.replaceLayer(at: i, with: ReLU())
      return model.nodes[i].name
    }
  }

  /// max / min of the positive per-channel ranges (1 without any).
  static func spreadOf(_ r: [Float]) -> Float {
    let positive = r.filter { $0 > 0 }
    guard let lo = positive.min(), let hi = positive.max() else { return 1 }
    return hi / lo
  }

  /// The per-output-channel ranges of layer i, scaled by its batch norm when a pair has one.
  static func foldedRanges(_ model: Model, _ i: Int, _ pairs: [Pair]) -> [Float] {
    let layer = model.nodes[i].layer as! any ChannelScalable
    var r = layer.outputChannelRanges()
    if let b = pairs.first(where: { $0.first == i })?.batchNorm, let bn = model.nodes[b].layer as? any BatchNormalization {
      r = zip(r, BatchNormFolding.affine(of: bn).scale).map { $0 * abs($1) }
    }
    return r
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

  /// Equalizes one pair; returns the largest |s − 1|.
  @discardableResult
  static func equalize(_ pair: Pair, in model: Model) -> Float {
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
    return s.map { abs($0 - 1) }.max() ?? 0
  }
}
