import CKernels

extension IntegerKernels {
  /// Requantizes exact sums by each output channel's integer multiplier and shift: bias codes
  /// shifted left onto the accumulator, the activation, one rounding with `rounding`, saturation.
  static func requantize(_ sums: (acc32: [Int32]?, acc64: [Int64]?), n: Int, c: Int, p: Int, bias: IntTensor?,
                         _ rq: ChannelRequantization, activation: FusedActivation, rounding: RoundingRule,
                         output: FixedPointFormat, into codes: inout [Int16]) {
    precondition(rq.multipliers.count == c, "requantization: \(rq.multipliers.count) multipliers for \(c) channels")
    let aligned: [Int64]? = bias.map { b in
      precondition(b.codes.count == c && rq.biasShifts.count == c, "requantization: bias of \(b.codes.count) for \(c) channels")
      return zip(b.codes, rq.biasShifts).map { Int64($0) << Int64($1) }
    }
    let mult = rq.multipliers.map(\.multiplier), shifts = rq.multipliers.map { Int32($0.shift) }
    let relu6 = relu6Code(output.fractionalBits, rounding)
    let (qmin, qmax) = (Int32(output.qmin), Int32(output.qmax))
    withOptional(aligned) { bp in
      if let acc32 = sums.acc32 {
        cks_requantize_mul(acc32, nil, Int64(n), Int64(c), Int64(p), bp, mult, shifts, activation.c, relu6, rounding.c, qmin, qmax, &codes)
      } else if let acc64 = sums.acc64 {
        cks_requantize_mul(nil, acc64, Int64(n), Int64(c), Int64(p), bp, mult, shifts, activation.c, relu6, rounding.c, qmin, qmax, &codes)
      }
    }
  }

  /// 6 on a grid of `fraction` fractional bits, rounded with the rule (the ReLU6 clamp of codes).
  public static func relu6Code(_ fraction: Int, _ rounding: RoundingRule) -> Int64 {
    fraction >= 0 ? Int64(6) << Int64(min(fraction, 40)) : rounding.shiftRight(6, by: -fraction)
  }
}

extension IntegerKernels {
  /// Requantizes exact integer sums given as floats (a float op on integer codes, every sum an
  /// integer below 2^24 in magnitude; channels on `channelAxis`: [N, C, H, W] with axis 1, or
  /// [..., C] with the last) by each channel's multiplier, with `bias` (codes, shifted by the
  /// biasShifts) added first; returns the dequantized values. What `conv2d(..., requantization:)`
  /// does after its own integer sums.
  public static func requantize(floatSums sums: Tensor, channelAxis: Int, bias: IntTensor?, _ rq: ChannelRequantization,
                                activation: FusedActivation, rounding: RoundingRule, output: FixedPointFormat) -> Tensor {
    let dims = sums.shape.dims
    precondition(dims.indices.contains(channelAxis), "requantize: channel axis \(channelAxis) of shape \(dims)")
    let n = dims[..<channelAxis].reduce(1, *), c = dims[channelAxis], p = dims[(channelAxis + 1)...].reduce(1, *)
    precondition(rq.multipliers.count == c, "requantization: \(rq.multipliers.count) multipliers for \(c) channels")
    let aligned: [Int64]? = bias.map { b in zip(b.codes, rq.biasShifts).map { Int64($0) << Int64($1) } }
    let mult = rq.multipliers.map(\.multiplier), shifts = rq.multipliers.map { Int32($0.shift) }
    let relu6 = relu6Code(output.fractionalBits, rounding)
    let cell = Float(sign: .plus, exponent: -output.fractionalBits, significand: 1)
    let x = sums.scalars
    var values = [Float](repeating: 0, count: x.count)
    withOptional(aligned) { bp in
      cks_requantize_mul_f32(x, Int64(n), Int64(c), Int64(p), bp, mult, shifts, activation.c, relu6, rounding.c,
                             Int32(output.qmin), Int32(output.qmax), cell, &values)
    }
    return Tensor(values, shape: sums.shape)
  }
}
