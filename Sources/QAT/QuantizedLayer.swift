import Autograd
import Layers
import TensorCore

/// A weight-bearing layer (convolution, linear, ...) whose weight and bias pass through
/// FixNeurons, with an optional fused activation. Its input is quantized upstream and its output
/// by the FixNeuron node that follows it.
///
/// The float path is exact while every partial sum stays below 2^24 units (8-bit operands,
/// K < 1024). Beyond that (16-bit formats) inference runs the layer's integer op — what the
/// simulator runs — and dequantizes, so the fake-quant model still equals the simulator. When
/// that path is needed but its input is not on the input quantizer's grid (non-finite values,
/// a model edited after preparation), the layer computes in float and records why in
/// `exactPathFailure`; the bit-exact check reports it.
public final class QuantizedLayer: Layer, WeightQuantized {
  public let core: any WeightBearing
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation
  public var requantize = RequantizeMode.powerOfTwo
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?
  /// The first time (since `clearExactPathFailure()`) the exact integer path was needed and could
  /// not run, and why.
  public private(set) var exactPathFailure: String?

  public func clearExactPathFailure() { exactPathFailure = nil }

  public init(_ core: any WeightBearing, activation: FusedActivation, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.core = core
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public var batchNorm: (any BatchNormalization)? { nil }
  public func folded() -> any WeightQuantized { self }
  public var biasParameter: Parameter? { core.bias }
  public var weightValue: Tensor { core.weight.value }
  public var biasValue: Tensor? { core.bias?.value }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedLayer")
    if usesMultiplierPath(x) {
      do { return try multiplierForward(x) } catch {
        if exactPathFailure == nil { exactPathFailure = "\(error)" }
      }
    }
    if let context = exactContext(x) {
      do { return try exactForward(x, context) } catch {
        if exactPathFailure == nil { exactPathFailure = "\(error)" }
      }
    }
    let w = weightQuantizer(core.weight.tensor)
    let b: Tensor? = core.bias.map { p in biasQuantizer.map { $0(p.tensor) } ?? p.tensor }
    return activate(core.apply(x, weight: w, bias: b))
  }

  struct ExactContext {
    var core: any IntegerWeightBearing
    var input: FixedPointFormat, weight: FixedPointFormat, bias: FixedPointFormat?, output: FixNeuron
  }

  /// The formats for the exact integer path, when the float path could round: every quantizer
  /// active with a per-tensor power-of-two format and the largest partial sum at or above 2^24.
  func exactContext(_ x: Tensor) -> ExactContext? {
    guard !x.isTracked, !core.weight.requiresGradient,
          let out = outputQuantizer, out.mode == .quantize, out.rangeParameter == nil,
          let fo = out.fixedPointFormat, fo.bits > 0,
          let input = inputQuantizer, input.mode == .quantize, input.rangeParameter == nil,
          let fx = input.fixedPointFormat, let fw = weightQuantizer.fixedPointFormat,
          weightQuantizer.mode == .quantize else { return nil }
    let fb = biasQuantizer?.fixedPointFormat
    if core.bias != nil && biasQuantizer != nil && fb == nil { return nil }
    // largest partial sum in units of the accumulator
    let accumulator = FixedPointFormat.accumulatorFractionalBits(input: fx.fractionalBits, weight: fw.fractionalBits)
    let accUnits = Double(reductionLength) * Double(1 << (fx.bits - 1)) * Double(1 << (fw.bits - 1))
    let biasUnits = fb.map { Double(1 << ($0.bits - 1)) * Double.pow2(Double(max(0, accumulator - $0.fractionalBits))) } ?? 0
    guard accUnits + biasUnits >= 16_777_216 || (activation == .leakyRelu && (accUnits + biasUnits) * 26 >= 16_777_216) else { return nil }
    guard let integerCore = core as? any IntegerWeightBearing else {
      if exactPathFailure == nil { exactPathFailure = "\(core.kind) has no integer form; its sums can round in float at these widths" }
      return nil
    }
    return ExactContext(core: integerCore, input: fx, weight: fw, bias: fb, output: out)
  }

  func exactForward(_ x: Tensor, _ c: ExactContext) throws -> Tensor {
    let xi: IntTensor
    do { xi = try IntTensor(onGrid: x, format: c.input) } catch {
      throw QuantizationError("\(kind) (weight quantizer \(weightQuantizer.label)): input not on its quantizer's grid, computed in float: \(error)")
    }
    let y = c.core.applyInteger(xi, weight: try integerWeight(c.weight), bias: try integerBias(c.bias), activation: activation,
                              output: c.output.fixedPointFormat!, rounding: c.output.spec.rounding, requantization: nil)
    return y.dequantized()
  }

  /// Inference with multiplier requantization always runs the integer form (float sums of
  /// float-scale products round, and the multiplier is not the exact scale ratio): training
  /// (gradients live) uses the float path.
  func usesMultiplierPath(_ x: Tensor) -> Bool {
    guard requantizesByMultiplier, !x.isTracked, !core.weight.requiresGradient, weightQuantizer.mode == .quantize,
          let input = inputQuantizer, input.mode == .quantize, input.rangeParameter == nil,
          let out = outputQuantizer, out.mode == .quantize, out.rangeParameter == nil else { return false }
    return true
  }

  func multiplierForward(_ x: Tensor) throws -> Tensor {
    guard let integerCore = core as? any IntegerWeightBearing else {
      throw QuantizationError("\(core.kind) has no integer form; multiplier requantization computed in float")
    }
    let form = try integerForm()
    let fx = inputQuantizer!.fixedPointFormat!, out = outputQuantizer!
    if form.sumsExactInFloat(inputCodes: max(abs(fx.qmin), abs(fx.qmax))) {
      // the float op (BLAS / oneDNN) on integer codes: every partial sum an integer below 2^24,
      // so exact; then the integer requantization
      let inv = Float(sign: .plus, exponent: fx.fractionalBits, significand: 1)
      let values = x.scalars
      var codes = [Float](repeating: 0, count: values.count)
      for i in values.indices {
        let q = values[i] * inv
        guard q >= Float(fx.qmin), q <= Float(fx.qmax), Float(Int32(q)) == q else {
          throw QuantizationError("\(kind) (weight quantizer \(weightQuantizer.label)): input value \(values[i]) at flat index \(i) is not on the grid of \(fx), computed in float")
        }
        codes[i] = q
      }
      let w = Tensor(form.weight.codes.map(Float.init), shape: form.weight.shape)
      let b = form.bias.map { b in Tensor(zip(b.codes, form.requantization.biasShifts).map { Float(Int64($0) << Int64($1)) }, shape: b.shape) }
      let sums = core.apply(Tensor(codes, shape: x.shape), weight: w, bias: b)
      return IntegerKernels.requantize(floatSums: sums, channelAxis: core.outputChannelAxis(inOutputOfRank: sums.shape.rank), bias: nil,
                                       form.requantization, activation: activation, rounding: out.spec.rounding, output: out.fixedPointFormat!)
    }
    let xi: IntTensor
    do { xi = try IntTensor(onGrid: x, format: fx) } catch {
      throw QuantizationError("\(kind) (weight quantizer \(weightQuantizer.label)): input not on its quantizer's grid, computed in float: \(error)")
    }
    let y = integerCore.applyInteger(xi, weight: form.weight, bias: form.bias, activation: activation, output: out.fixedPointFormat!,
                                     rounding: out.spec.rounding, requantization: form.requantization)
    return y.dequantized()
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    core.namedParameters + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { core.flops(inputs: inputs, output: output) }
  public var kind: String { "Quantized" + core.kind }
}
