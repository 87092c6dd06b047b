import Layers
import TensorCore

/// The integer form of a conv / linear layer whose weights have float (or per-channel) scales
/// (`requantize` int16 / int32): weight codes, bias codes on the accumulator's scale times a power
/// of two, and per output channel an integer multiplier and shift taking the accumulator
/// (input scale · weight scale) to the output grid. The fake-quant model's exact path and the
/// export both build it here, so the simulator runs what the fake-quant model computed.
public struct IntegerLayerForm: Sendable {
  public var weight: IntTensor
  public var bias: IntTensor?
  public var requantization: ChannelRequantization
  /// Per output channel: the weight codes' scale, and the accumulator's (input scale · weight scale).
  public var weightScales: [Float]
  public var accumulatorScales: [Double]
}

extension IntegerLayerForm {
  /// Whether a float op on these integer codes sums exactly: per output channel
  /// Σ|weight codes| · the largest input code + |bias · 2^bias_shift| below 2^24.
  public func sumsExactInFloat(inputCodes largest: Int) -> Bool {
    let channels = requantization.multipliers.count
    guard channels > 0, weight.codes.count % channels == 0 else { return false }
    let perChannel = weight.codes.count / channels
    return weight.codes.withUnsafeBufferPointer { w in
      (0..<channels).allSatisfy { c in
        var sum = Int64(0)
        for i in (c * perChannel)..<((c + 1) * perChannel) { sum += Int64(abs(Int32(w[i]))) }
        let code = Int64(bias?.codes[c] ?? 0), shift = requantization.biasShifts[c]
        guard code == 0 || shift < 24 else { return false }
        return sum * Int64(largest) + (abs(code) << Int64(shift)) < 1 << 24
      }
    }
  }
}

public enum Requantization {
  /// Every layer that requantizes by multiplier gets its bias grid from its input and weight
  /// scales: per channel the accumulator's scale times the smallest power of two 2^k (k ≥ 0) at
  /// which the bias fits its bits (the bias code then enters the sum shifted left by k, exactly).
  /// Runs after calibration and whenever formats or biases change (`ShiftConstraints.enforce`).
  public static func deriveBiasFormats(_ qm: QuantizedModel) throws {
    for (name, layer) in qm.weightLayers where layer.requantizesByMultiplier {
      guard let bq = layer.biasQuantizer, let b = layer.biasValue else { continue }
      guard layer.inputQuantizer?.format != nil, layer.weightQuantizer.format != nil else { continue }  // not calibrated yet
      let scales = try layer.accumulatorScales()
      let limit = Double(CodeRange(bits: bq.spec.bits, signed: true, narrowRange: false).qmax)
      let values = b.scalars
      guard values.count == scales.count else {
        throw QuantizationError("\(name): bias of \(values.count) values for \(scales.count) output channels")
      }
      var biasScales: [Float] = []
      for (v, a) in zip(values, scales) {
        guard v.isFinite else { throw QuantizationError("\(name).bias: non-finite value \(v)") }
        var k = 0
        while (Double(v) / (a * Double.pow2(Double(k)))).rounded().magnitude > limit && k < 62 { k += 1 }
        let s = a * Double.pow2(Double(k))
        guard let f = Float(exactly: s), f > 0, f.isNormal else {
          throw QuantizationError("\(name).bias: scale \(s) (accumulator scale · 2^\(k)) is not a normal float")
        }
        biasScales.append(f)
      }
      bq.setFormat(.affine(AffineFormat(bits: bq.spec.bits, signed: true, scales: biasScales,
                                        zeroPoints: Array(repeating: 0, count: biasScales.count), axis: 0)))
    }
  }
}

extension WeightQuantized {
  /// Whether this layer requantizes by integer multiplier: `requantize` int16 / int32 and a
  /// weight format other than one power of two per tensor.
  public var requantizesByMultiplier: Bool {
    guard requantize.multiplierBits != nil, let f = weightQuantizer.format else { return false }
    return f.fixedPoint == nil
  }

  /// The scale of each output channel's weight codes (symmetric formats only).
  public func weightChannelScales() throws -> [Float] {
    let channels = core.outputChannels
    guard core.outputChannelAxis == 0 else {
      throw QuantizationError("\(weightQuantizer.label): per-channel requantization needs output channels on the weight's first axis (\(core.kind) has them elsewhere)")
    }
    switch weightQuantizer.format {
    case .fixedPoint(let f)?: return Array(repeating: Float(Double.pow2(-Double(f.fractionalBits))), count: channels)
    case .fixedPointPerChannel(_, _, let fb, let axis)? where axis == 0 && fb.count == channels:
      return fb.map { Float(Double.pow2(-Double($0))) }
    case .affine(let a)? where a.isSymmetric && (a.axis == nil || (a.axis == 0 && a.scales.count == channels)):
      return a.axis == nil ? Array(repeating: a.scales[0], count: channels) : a.scales
    case let f?: throw QuantizationError("\(weightQuantizer.label): \(f) has no integer requantization here (expected symmetric scales, per tensor or per output channel on axis 0)")
    case nil: throw QuantizationError("\(weightQuantizer.label): not calibrated")
    }
  }

  /// Input scale · weight scale per output channel.
  public func accumulatorScales() throws -> [Double] {
    guard let fx = inputQuantizer?.fixedPointFormat else {
      throw QuantizationError("\(weightQuantizer.label): multiplier requantization needs a power-of-two input format")
    }
    return try weightChannelScales().map { Double($0) * Double.pow2(-Double(fx.fractionalBits)) }
  }

  /// The layer's integer form for multiplier requantization at the configured width.
  public func integerForm() throws -> IntegerLayerForm {
    let label = weightQuantizer.label
    guard let bits = requantize.multiplierBits else { throw QuantizationError("\(label): requantize is power_of_two; no multipliers") }
    guard let fy = outputQuantizer?.fixedPointFormat else {
      throw QuantizationError("\(label): multiplier requantization needs a power-of-two output format")
    }
    let scales = try weightChannelScales(), acc = try accumulatorScales()
    let wf = weightQuantizer.format!
    let w = weightQuantizer.quantize(weightValue)
    let perChannel = w.count / max(1, scales.count)
    let wcodes = try codes(w.scalars, scales: scales, perChannel: perChannel, qmin: -(1 << (wf.bits - 1)), qmax: (1 << (wf.bits - 1)) - 1, label)
    let weight = IntTensor(shape: w.shape, codes: wcodes, format: FixedPointFormat(bits: wf.bits, fractionalBits: 0))
    var bias: IntTensor? = nil
    var biasShifts = Array(repeating: 0, count: scales.count)
    if let b = biasValue {
      guard let bq = biasQuantizer, case .affine(let bf)? = bq.format, bf.axis == 0, bf.scales.count == scales.count, bf.isSymmetric else {
        throw QuantizationError("\(label): the bias needs its per-channel grid on the accumulator scale (run Requantization.deriveBiasFormats)")
      }
      for (c, (s, a)) in zip(bf.scales, acc).enumerated() {
        let ratio = Double(s) / a
        guard ratio.significand == 1, ratio.exponent >= 0, ratio.exponent <= 62 else {
          throw QuantizationError("\(label): bias scale of channel \(c) is \(ratio) times the accumulator's, not a power of two ≥ 1")
        }
        biasShifts[c] = Int(ratio.exponent)
      }
      let bcodes = try codes(bq.quantize(b).scalars, scales: bf.scales, perChannel: 1, qmin: bf.qmin, qmax: bf.qmax, bq.label)
      bias = IntTensor(shape: [scales.count], codes: bcodes, format: FixedPointFormat(bits: bf.bits, fractionalBits: 0))
    }
    let multipliers = try acc.enumerated().map { c, a in
      do { return try IntegerMultiplier(approximating: a * Double.pow2(Double(fy.fractionalBits)), bits: bits) } catch {
        throw QuantizationError("\(label): output channel \(c): \(error)")
      }
    }
    return IntegerLayerForm(weight: weight, bias: bias, requantization: ChannelRequantization(multipliers: multipliers, biasShifts: biasShifts),
                            weightScales: scales, accumulatorScales: acc)
  }
}

/// Integer codes of fake-quantized values, channel by channel (value / scale is within rounding
/// error of an integer).
private func codes(_ values: [Float], scales: [Float], perChannel: Int, qmin: Int, qmax: Int, _ label: String) throws -> [Int16] {
  var out = [Int16](repeating: 0, count: values.count)
  for i in values.indices {
    let q = (Double(values[i]) / Double(scales[i / perChannel])).rounded()
    guard q.isFinite, q >= Double(qmin), q <= Double(qmax) else {
      throw QuantizationError("\(label): value \(values[i]) is not a code of its format (\(q) outside [\(qmin), \(qmax)])")
    }
    out[i] = Int16(q)
  }
  return out
}
