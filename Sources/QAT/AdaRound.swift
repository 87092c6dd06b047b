import Autograd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Layers
import TensorCore

/// AdaRound (Nagel et al. 2020, "Up or down? Adaptive rounding for post-training quantization";
/// AIMET's apply_adaround): instead of rounding every weight to the nearest grid point, each
/// layer learns whether to round down or up so that its output on calibration data stays close
/// to the float model's. Per weight, W̃ = s · clamp(floor(W / s) + h(V), qmin, qmax) with the
/// rectified sigmoid h(V) = clamp(σ(V)·(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1; V starts where
/// h(V) = frac(W / s) (W̃ = W inside the range) and is trained with Adam on
///   Σ_channels mean_(batch, pixels) (f(conv(x̃, W̃) + b̃) − f(conv(x, W) + b))²  +  λ · Σ (1 − |2h(V) − 1|^β),
/// where x̃ is the layer's input in the quantized model (earlier layers already rounded), x the
/// same x̃ by default or, with `asymmetric`, the layer's input in the float model, f the fused ReLU
/// if any, and β anneals from 20 to 2 after a warm-up
/// without the regularizer. Finally every weight is set to its grid point, floor(W / s) + [h(V) ≥ ½],
/// so the weight quantizer (whose format is kept) reproduces it exactly.
public enum AdaRound {
  public struct Options: Sendable {
    public var iterations = 1000
    public var batchSize = 32
    public var learningRate: Float = 0.01
    /// λ, the weight of the rounding regularizer.
    public var regularization: Float = 0.01
    /// β at the start and at the end of the annealing.
    public var beta: (start: Float, end: Float) = (20, 2)
    /// Share of the iterations without the regularizer.
    public var warmup: Float = 0.2
    /// Draws the batches.
    public var seed: UInt64 = 0
    /// Targets from the float model's own input (asymmetric reconstruction: the rounding also
    /// compensates upstream quantization error) instead of the quantized model's input.
    public var asymmetric = false
    public init() {}
  }

  public struct LayerResult: Sendable {
    public var layer: String
    public var weights: Int
    /// Weights rounded the other way than to nearest.
    public var flipped: Int
    /// Reconstruction loss on all calibration images with nearest rounding and after AdaRound.
    public var nearestLoss: Double
    public var adaroundLoss: Double
  }

  public struct Report: Sendable {
    public var layers: [LayerResult] = []
    /// Layers left alone (training-form Conv+BN, affine weights with a zero point).
    public var skipped: [String] = []
  }

  static let zeta: Float = 1.1, gamma: Float = -0.1

  /// Rounds the weights of a calibrated model, layer by layer in graph order, on the calibration
  /// batches (all of them held in memory as the layer inputs they produce).
  @discardableResult
  public static func apply(_ qm: QuantizedModel, batches: [Tensor], options: Options = Options()) throws -> Report {
    guard qm.quantizers.allSatisfy({ $0.mode == .quantize }) else {
      throw QuantizationError("AdaRound needs a calibrated model: call Calibration.calibrate first")
    }
    guard !batches.isEmpty else { throw QuantizationError("AdaRound received no calibration batches") }
    guard options.iterations > 0, options.batchSize > 0, options.warmup >= 0, options.warmup < 1 else {
      throw QuantizationError("AdaRound: iterations and batch size must be positive and warmup in [0, 1)")
    }
    qm.model.setPhase(.inference)
    var report = Report()
    var rng = RandomGenerator(seed: options.seed)
    for (i, node) in qm.model.nodes.enumerated() {
      guard let layer = node.layer as? any WeightQuantized, layer.batchNorm == nil,
            let grid = scales(layer.weightQuantizer) else {
        if node.layer is any WeightQuantized { report.skipped.append(node.name) }
        continue
      }
      let (floatInputs, quantInputs) = try inputs(of: i, in: qm, batches: batches, float: options.asymmetric)
      let r = try round(layer, name: node.name, grid: grid, targetInputs: floatInputs ?? quantInputs,
                        quantInputs: quantInputs, options: options, rng: &rng)
      report.layers.append(r)
    }
    return report
  }

  /// Per-output-channel steps and the code range of a weight quantizer ([O] steps; nil when the
  /// format is affine with a non-zero zero point).
  static func scales(_ q: FixNeuron) -> (steps: [Float], qmin: Float, qmax: Float)? {
    guard let format = q.format, q.rangeParameter == nil else { return nil }
    switch format {
    case .fixedPoint(let f):
      return ([Float(Double.pow2(-Double(f.fractionalBits)))], Float(f.qmin), Float(f.qmax))
    case .fixedPointPerChannel(let bits, let signed, let positions, let axis):
      guard axis == 0 else { return nil }
      let f = FixedPointFormat(bits: bits, signed: signed, fractionalBits: 0)
      return (positions.map { Float(Double.pow2(-Double($0))) }, Float(f.qmin), Float(f.qmax))
    case .affine(let a):
      guard a.zeroPoints.allSatisfy({ $0 == 0 }), a.axis == nil || a.axis == 0 else { return nil }
      return (a.scales, Float(a.qmin), Float(a.qmax))
    }
  }

  /// The layer's input in the quantized model and, with `float`, in the float model (every
  /// quantizer bypassed), one tensor per calibration batch.
  static func inputs(of i: Int, in qm: QuantizedModel, batches: [Tensor], float: Bool) throws -> ([Tensor]?, [Tensor]) {
    let model = qm.model, source = model.nodes[i].inputs[0]
    func collect() -> [Tensor] {
      model.withoutGradients {
        batches.map { x in
          var captured: Tensor?
          _ = model.forward([x]) { j, y in if j == source { captured = y } }
          return captured!
        }
      }
    }
    return (float ? try qm.asFloat(collect) : nil, collect())
  }

  /// f(layer(x; weight, bias)) with the layer's geometry and fused ReLU (other fused activations
  /// are left out: the loss then compares pre-activations).
  static func output(_ layer: any WeightQuantized, _ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let y = layer.preActivation(x, weight: weight, bias: bias)
    return layer.activation == .relu ? y.relu() : y
  }

  /// Σ over channels of the mean over batch and pixels of (a − b)².
  static func reconstruction(_ a: Tensor, _ b: Tensor) -> Tensor {
    let d = (a - b).squared()
    return d.sum() * (Float(a.shape[1]) / Float(a.count))
  }

  static func rectifiedSigmoid(_ v: Tensor) -> Tensor { (v.sigmoid() * (zeta - gamma) + gamma).clamped(min: 0, max: 1) }

  static func round(_ layer: any WeightQuantized, name: String, grid: (steps: [Float], qmin: Float, qmax: Float),
                    targetInputs: [Tensor], quantInputs: [Tensor], options: Options,
                    rng: inout RandomGenerator) throws -> LayerResult {
    let w = layer.weightValue
    let outChannels = w.shape[0], per = w.count / outChannels
    let stepShape = Shape([outChannels] + [Int](repeating: 1, count: w.rank - 1))
    let stepValues = grid.steps.count == 1 ? [Float](repeating: grid.steps[0], count: outChannels) : grid.steps
    let steps = Tensor(stepValues, shape: stepShape)
    let scaled = w.scalars.enumerated().map { $0.element / stepValues[$0.offset / per] }
    let floors = scaled.map { $0.rounded(.down) }
    let floorTensor = Tensor(floors, shape: w.shape)
    // h(V0) = frac(W / s): V0 = −log((ζ − γ) / (frac − γ) − 1)
    let v0 = zip(scaled, floors).map { x, f -> Float in
      let frac = Swift.min(Swift.max(x - f, 0.01), 0.99)
      return -logf((zeta - gamma) / (frac - gamma) - 1)
    }
    let v = Parameter(Tensor(v0, shape: w.shape))
    let bias = layer.biasParameter.map { p in layer.biasQuantizer.map { $0(p.value) } ?? p.value }
    let floatBias = layer.biasParameter?.value
    let targets = targetInputs.map { output(layer, $0, weight: w, bias: floatBias) }
    func rounded(_ h: Tensor) -> Tensor { ((floorTensor + h).clamped(min: grid.qmin, max: grid.qmax)) * steps }
    func loss(of weight: Tensor) -> Double {
      var total = 0.0
      for (x, t) in zip(quantInputs, targets) {
        total += Double(reconstruction(output(layer, x, weight: weight, bias: bias), t).scalars[0]) * Double(x.shape[0])
      }
      return total / Double(quantInputs.reduce(0) { $0 + $1.shape[0] })
    }
    let nearest = layer.weightQuantizer(w)
    let nearestLoss = loss(of: nearest)

    // the calibration images' inputs and targets, one flat array each (image k at k · per)
    let inputPool = Pool(quantInputs), targetPool = Pool(targets)
    let optimizer = Adam([v], learningRate: options.learningRate)
    let warm = Int(Float(options.iterations) * options.warmup)
    let batch = Swift.min(options.batchSize, inputPool.count)
    for it in 0..<options.iterations {
      let picks = (0..<batch).map { _ in rng.nextInt(below: inputPool.count) }
      let x = inputPool.gather(picks), t = targetPool.gather(picks)
      let h = rectifiedSigmoid(v.tensor)
      var total = reconstruction(output(layer, x, weight: rounded(h), bias: bias), t)
      if it >= warm {
        let progress = Float(it - warm) / Float(Swift.max(1, options.iterations - warm))
        let beta = options.beta.start + (options.beta.end - options.beta.start) * progress
        let regularizer = (1 - ((h * 2 - 1).abs() + 1e-12).pow(beta)).sum()
        total = total + regularizer * options.regularization
      }
      optimizer.update(gradients(of: total))
    }

    // hard rounding: up where h(V) ≥ ½
    let up = rectifiedSigmoid(v.value).scalars.map { $0 >= 0.5 ? Float(1) : 0 }
    let final = rounded(Tensor(up, shape: w.shape))
    let flipped = zip(final.scalars, nearest.scalars).filter { $0 != $1 }.count
    layer.weightParameter.value = final
    guard layer.weightQuantizer(final).scalars == final.scalars else {
      throw QuantizationError("AdaRound \(name): the rounded weight is not on its quantizer's grid")
    }
    return LayerResult(layer: name, weights: w.count, flipped: flipped, nearestLoss: nearestLoss,
                       adaroundLoss: loss(of: final))
  }

  /// Samples of equal shape in one flat array, gathered into batches.
  struct Pool {
    let values: [Float]
    let sample: [Int]
    let count: Int

    init(_ batches: [Tensor]) {
      sample = Array(batches[0].shape.dims.dropFirst())
      values = batches.flatMap(\.scalars)
      count = batches.reduce(0) { $0 + $1.shape[0] }
    }

    func gather(_ picks: [Int]) -> Tensor {
      let per = sample.reduce(1, *)
      var out = [Float](repeating: 0, count: picks.count * per)
      values.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
          for (i, p) in picks.enumerated() {
            dst.baseAddress!.advanced(by: i * per).update(from: src.baseAddress!.advanced(by: p * per), count: per)
          }
        }
      }
      return Tensor(out, shape: Shape([picks.count] + sample))
    }
  }
}
