import CKernels

/// Integer arithmetic shared by the simulator and the exact fake-quant path: exact integer
/// accumulation, bias aligned by shifts, one rounding onto the output grid, saturation.
public enum IntegerKernels {
  /// Weights packed for the int32 convolution kernel.
  public struct PackedWeights: Sendable {
    /// Channel pairs as int16 halves (any 8-bit operands).
    public let values: [Int32]
    /// Four channels as bytes, when every weight code is in [−128, 127]: the faster kernel for
    /// inputs in [0, 127].
    public let bytes: [Int32]?
    public let outChannels: Int
    public let groups: Int
    public let k: Int
  }

  /// Packs weights for the int32 kernel; `withBytes` also makes the byte packing when the codes
  /// allow it (the 16-bit path, which always uses the pair form, skips it).
  public static func pack(_ w: IntTensor, groups: Int, withBytes: Bool = true) -> PackedWeights {
    let (o, cg, kh, kw) = (Int32(w.shape[0]), Int32(w.shape[1]), Int32(w.shape[2]), Int32(w.shape[3]))
    var packed = [Int32](repeating: 0, count: cks_packed_weights_count(o, Int32(groups), cg, kh, kw))
    var bytes: [Int32]? = nil
    w.codes.withUnsafeBufferPointer { wp in
      cks_pack_weights(wp.baseAddress, o, Int32(groups), cg, kh, kw, &packed)
      if withBytes && cks_codes_within(wp.baseAddress, Int64(wp.count), -128, 127) != 0 {
        var q = [Int32](repeating: 0, count: cks_packed_weights_count_u8s8(o, Int32(groups), cg, kh, kw))
        cks_pack_weights_u8s8(wp.baseAddress, o, Int32(groups), cg, kh, kw, &q)
        bytes = q
      }
    }
    return PackedWeights(values: packed, bytes: bytes, outChannels: Int(o), groups: groups, k: w.shape.count / Int(o))
  }

  /// How the int32 kernel forms its products: int16 pairs (vpmaddwd) or byte quads (vpmaddubsw).
  public enum ProductForm: Sendable { case pairs, bytes }

  /// The byte form is exact for these operands: weights packed as bytes and inputs in [0, 127].
  static func bytesExact(_ x: UnsafeBufferPointer<Int16>, _ pw: PackedWeights) -> Bool {
    pw.bytes != nil && cks_codes_within(x.baseAddress, Int64(x.count), 0, 127) != 0
  }

  static func conv2dInt32(_ x: UnsafeBufferPointer<Int16>, _ pw: PackedWeights, form: ProductForm,
                          acc: UnsafeMutablePointer<Int32>?, rq: UnsafePointer<cks_conv_requant>?,
                          out: UnsafeMutablePointer<Int16>?, n: Int,
                          _ a: ConvArguments) {
    if form == .bytes, let bytes = pw.bytes {
      cks_conv2d_u8s8(x.baseAddress, bytes, acc, rq, out, Int64(n), a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, a.13, a.14)
    } else {
      cks_conv2d_i32(x.baseAddress, pw.values, acc, rq, out, Int64(n), a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, a.13, a.14)
    }
  }

  /// The exact int32 sums of an 8-bit convolution (no bias) with the product form given, or nil
  /// when that form is not exact for these operands (the byte form needs inputs in [0, 127] and
  /// weights in [−128, 127]). `conv2d` picks the byte form whenever it is exact; both give the same
  /// sums, which the tests check.
  public static func convolutionSums(_ x: IntTensor, weight w: IntTensor, geometry g: ConvGeometry,
                                     form: ProductForm) -> [Int32]? {
    let outShape = g.outputShape(input: x.shape, weight: w.shape)
    guard int32Exact(x.format, w.format, k: w.shape.count / w.shape[0]) else { return nil }
    let pw = pack(w, groups: g.groups)
    let args = convArguments(x.shape, w.shape, outShape, g)
    let count = outShape.count
    var acc = [Int32](repeating: 0, count: count)
    let ok: Bool = x.codes.withUnsafeBufferPointer { xp in
      if form == .bytes && !bytesExact(xp, pw) { return false }
      acc.withUnsafeMutableBufferPointer { ap in
        conv2dInt32(xp, pw, form: form, acc: ap.baseAddress, rq: nil, out: nil, n: x.shape[0], args)
      }
      return true
    }
    return ok ? acc : nil
  }

  /// The C kernels' geometry arguments: c, h, w, o, kh, kw, strides, top / left padding,
  /// dilations, groups, oh, ow.
  typealias ConvArguments = (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32)

  static func convArguments(_ x: Shape, _ w: Shape, _ y: Shape, _ g: ConvGeometry) -> ConvArguments {
    (Int32(x[1]), Int32(x[2]), Int32(x[3]), Int32(w[0]), Int32(w[2]), Int32(w[3]), Int32(g.strideH), Int32(g.strideW),
     Int32(g.padTop), Int32(g.padLeft), Int32(g.dilationH), Int32(g.dilationW), Int32(g.groups), Int32(y[2]), Int32(y[3]))
  }

  /// Testing: the portable integer convolution tiles instead of the AVX2 ones (same results).
  public static func usePortableConvolution(_ on: Bool) { cks_use_portable_conv(on ? 1 : 0) }

  /// Whether the int32 kernel is exact for these operands: codes within int8 range and the
  /// largest possible sum below 2^31.
  public static func int32Exact(_ x: FixedPointFormat, _ w: FixedPointFormat, k: Int) -> Bool {
    x.bits <= 8 && w.bits <= 8 && Double(k) * 128 * 128 < 1_073_741_824
  }

  /// conv2d (or linear as a 1x1 conv) of integer codes, bias, activation and requantization to
  /// `output` with `rounding`: by shift from the operands' positions, or, with `requantization`,
  /// by each output channel's integer multiplier and shift (the operands' positions are then
  /// ignored: the multipliers carry the scales).
  public static func conv2d(_ x: IntTensor, weight w: IntTensor, packed: PackedWeights?, bias: IntTensor?,
                            geometry g: ConvGeometry, activation: FusedActivation, output: FixedPointFormat,
                            rounding: RoundingRule, requantization: ChannelRequantization? = nil) -> IntTensor {
    let outShape = g.outputShape(input: x.shape, weight: w.shape)
    let (n, c) = (x.shape[0], x.shape[1])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (oh, ow) = (outShape[2], outShape[3])
    let k = c / g.groups * kh * kw
    var out = IntTensor(uninitialized: outShape, format: output)
    let args = convArguments(x.shape, w.shape, outShape, g)
    if let rq = requantization {
      let sums = accumulate(x, w, packed: packed, groups: g.groups, k: k, count: outShape.count, n: n, args)
      requantize(sums, n: n, c: o, p: oh * ow, bias: bias, rq, activation: activation, rounding: rounding, output: output,
                 into: &out.codes)
      return out
    }
    var f = FixedPointFormat.accumulatorFractionalBits(input: x.format.fractionalBits, weight: w.format.fractionalBits)
    var left = 0
    var biasAligned: [Int64]? = nil
    if let bias {
      let fb = bias.format.fractionalBits
      if fb > f { left = fb - f; f = fb }
      biasAligned = bias.codes.map { Int64($0) << Int64(f - fb) }
    }
    let limit = relu6Limit(f + activation.extraBits)
    let shift = Int32(f + activation.extraBits - output.fractionalBits)
    if int32Exact(x.format, w.format, k: k) {
      // requantization fused into the kernel: no left shift, ReLU or nothing, shift in [1, 30],
      // and every biased sum plus the rounding half within int32 (|sum| < 2^30 by int32Exact,
      // |bias| ≤ 2^29, half ≤ 2^29)
      let fusable = left == 0 && (activation == .identity || activation == .relu) && (1...30).contains(shift)
        && (biasAligned ?? []).allSatisfy { abs($0) <= 1 << 29 }
      if fusable {
        let pw = packed ?? pack(w, groups: g.groups)
        let bias32 = biasAligned.map { $0.map { Int32($0) } }
        out.codes.withUnsafeMutableBufferPointer { op in
          x.codes.withUnsafeBufferPointer { xp in
            withOptional32(bias32) { bp in
              var rq = cks_conv_requant(bias: bp, relu: activation == .relu ? 1 : 0, shift: shift, rule: Int32(rounding.c.rawValue),
                                        qmin: Int32(output.qmin), qmax: Int32(output.qmax))
              conv2dInt32(xp, pw, form: bytesExact(xp, pw) ? .bytes : .pairs, acc: nil, rq: &rq, out: op.baseAddress, n: n, args)
            }
          }
        }
        return out
      }
    }
    let sums = accumulate(x, w, packed: packed, groups: g.groups, k: k, count: outShape.count, n: n, args)
    requantize(acc32: sums.acc32, acc64: sums.acc64, n: n, c: o, p: oh * ow, left: left, bias: biasAligned, activation: activation,
               limit: limit, shift: shift, rounding: rounding, output: output, into: &out.codes)
    return out
  }

  /// The exact sums of a convolution: int32 for 8-bit operands, byte-split int32 sums combined in
  /// int64 for 16-bit ones, int64 directly beyond.
  static func accumulate(_ x: IntTensor, _ w: IntTensor, packed: PackedWeights?, groups: Int, k: Int, count: Int, n: Int,
                         _ args: ConvArguments) -> (acc32: [Int32]?, acc64: [Int64]?) {
    if int32Exact(x.format, w.format, k: k) {
      let pw = packed ?? pack(w, groups: groups)
      var acc = [Int32](unsafeUninitializedCapacity: count) { _, c in c = count }
      x.codes.withUnsafeBufferPointer { xp in
        acc.withUnsafeMutableBufferPointer { ap in
          conv2dInt32(xp, pw, form: bytesExact(xp, pw) ? .bytes : .pairs, acc: ap.baseAddress, rq: nil, out: nil, n: n, args)
        }
      }
      return (acc, nil)
    }
    if Double(k) * 255 * 255 < 2_147_483_648 {
      // 16-bit operands: split each into a signed high byte and an unsigned low byte
      // (v = 256·hi + lo) and sum the byte products with the int32 kernel, exactly, then
      // combine in int64
      func conv32(_ a: [Int16], _ pb: PackedWeights) -> [Int32] {
        var acc = [Int32](unsafeUninitializedCapacity: count) { _, c in c = count }
        a.withUnsafeBufferPointer { ap in
          acc.withUnsafeMutableBufferPointer { cp in
            conv2dInt32(ap, pb, form: .pairs, acc: cp.baseAddress, rq: nil, out: nil, n: n, args)
          }
        }
        return acc
      }
      let xParts = x.format.bits > 8 ? [x.codes.map { $0 >> 8 }, x.codes.map { $0 & 0xFF }] : [x.codes]
      let wParts = (w.format.bits > 8 ? [w.codes.map { $0 >> 8 }, w.codes.map { $0 & 0xFF }] : [w.codes]).map {
        pack(IntTensor(shape: w.shape, codes: $0, format: w.format), groups: groups, withBytes: false)  // once per part
      }
      var acc = [Int64](repeating: 0, count: count)
      for (i, xp) in xParts.enumerated() {
        for (j, wp) in wParts.enumerated() {
          // weight of this partial sum: 2^8 per high part
          let weight = Int64(8 * ((xParts.count - 1 - i) + (wParts.count - 1 - j)))
          let part = conv32(xp, wp)
          acc.withUnsafeMutableBufferPointer { a in
            part.withUnsafeBufferPointer { p in for e in 0..<count { a[e] += Int64(p[e]) << weight } }
          }
        }
      }
      return (nil, acc)
    }
    var acc = [Int64](unsafeUninitializedCapacity: count) { _, c in c = count }
    x.codes.withUnsafeBufferPointer { xp in
      w.codes.withUnsafeBufferPointer { wp in
        cks_conv2d_i64(xp.baseAddress, wp.baseAddress, &acc, Int64(n), args.0, args.1, args.2, args.3, args.4, args.5,
                       args.6, args.7, args.8, args.9, args.10, args.11, args.12, args.13, args.14)
      }
    }
    return (nil, acc)
  }

  /// A fully connected layer as a 1x1 convolution: x [N, features...] flattened per sample, weight
  /// [out, in, 1, 1]; the result is [N, out].
  public static func linear(_ x: IntTensor, weight w: IntTensor, packed: PackedWeights?, bias: IntTensor?,
                            activation: FusedActivation, output: FixedPointFormat, rounding: RoundingRule,
                            requantization: ChannelRequantization? = nil) -> IntTensor {
    let x4 = IntTensor(shape: [x.shape[0], x.shape.dims.dropFirst().reduce(1, *), 1, 1], codes: x.codes, format: x.format)
    var y = conv2d(x4, weight: w, packed: packed, bias: bias, geometry: ConvGeometry(), activation: activation,
                   output: output, rounding: rounding, requantization: requantization)
    y.shape = [x.shape[0], y.shape[1]]
    return y
  }

  /// 6 at the given fractional bits (for relu6 at 8 extra bits).
  static func relu6Limit(_ fraction: Int) -> Int64 {
    fraction >= 0 ? Int64(6) << Int64(min(fraction, 58)) : Int64(6) >> Int64(-fraction)
  }

  static func requantize(acc32: [Int32]?, acc64: [Int64]?, n: Int, c: Int, p: Int, left: Int, bias: [Int64]?,
                         activation: FusedActivation, limit: Int64, shift: Int32, rounding: RoundingRule,
                         output: FixedPointFormat, into codes: inout [Int16]) {
    let (qmin, qmax) = (Int32(output.qmin), Int32(output.qmax))
    withOptional(bias) { bp in
      if let acc32 {
        cks_requantize(acc32, nil, Int64(n), Int64(c), Int64(p), Int32(left), bp, activation.c, limit, shift, rounding.c, qmin, qmax, &codes)
      } else if let acc64 {
        cks_requantize(nil, acc64, Int64(n), Int64(c), Int64(p), Int32(left), bp, activation.c, limit, shift, rounding.c, qmin, qmax, &codes)
      }
    }
  }

  /// Elementwise requantization (with an optional activation) to another format.
  public static func rescale(_ x: IntTensor, to output: FixedPointFormat, activation: FusedActivation = .identity,
                             rounding: RoundingRule) -> IntTensor {
    var out = IntTensor(uninitialized: x.shape, format: output)
    let f = x.format.fractionalBits + activation.extraBits
    cks_rescale(x.codes, &out.codes, Int64(x.codes.count), Int32(f - output.fractionalBits), rounding.c,
                Int32(output.qmin), Int32(output.qmax), activation.c, relu6Limit(f))
    return out
  }

  /// a ± b aligned to the finer position (the coarser input shifted left by the DPU's
  /// shift_read), activation, requantized to `output`; shapes broadcast (NumPy rules).
  public static func add(_ a: IntTensor, _ b: IntTensor, subtract: Bool = false, activation: FusedActivation,
                         output: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    let (a, b) = broadcastPair(a, b)
    let f = max(a.format.fractionalBits, b.format.fractionalBits)
    var out = IntTensor(uninitialized: a.shape, format: output)
    let fe = f + activation.extraBits
    cks_add(a.codes, Int32(f - a.format.fractionalBits), b.codes, Int32(f - b.format.fractionalBits), subtract ? 1 : 0,
            &out.codes, Int64(a.codes.count), Int32(fe - output.fractionalBits), rounding.c, Int32(output.qmin),
            Int32(output.qmax), activation.c, relu6Limit(fe))
    return out
  }

  /// a · b (shapes broadcast): the exact product at fraction fa + fb, shifted by the DPU's
  /// shift_write onto `output`.
  public static func multiply(_ a: IntTensor, _ b: IntTensor, output: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    let (a, b) = broadcastPair(a, b)
    var out = IntTensor(uninitialized: a.shape, format: output)
    let shift = a.format.fractionalBits + b.format.fractionalBits - output.fractionalBits
    cks_mul_i16(a.codes, b.codes, &out.codes, Int64(a.codes.count), Int32(shift), rounding.c, Int32(output.qmin), Int32(output.qmax))
    return out
  }

  /// The DPU's hard sigmoid, relu6(x + 3) · 2731 / 2^14, onto `output` (x at fraction ≥ 0).
  public static func hardSigmoid(_ x: IntTensor, output: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    var out = IntTensor(uninitialized: x.shape, format: output)
    cks_hsigmoid_i16(x.codes, &out.codes, Int64(x.codes.count), Int32(x.format.fractionalBits), Int32(output.fractionalBits),
                     rounding.c, Int32(output.qmin), Int32(output.qmax))
    return out
  }

  /// The DPU's hard swish, x · hard_sigmoid(x) with the hard sigmoid at fix position 7 (int8,
  /// half-up), onto `output`.
  public static func hardSwish(_ x: IntTensor, output: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    var out = IntTensor(uninitialized: x.shape, format: output)
    cks_hswish_i16(x.codes, &out.codes, Int64(x.codes.count), Int32(x.format.fractionalBits), Int32(output.fractionalBits),
                   rounding.c, Int32(output.qmin), Int32(output.qmax))
    return out
  }

  /// out = table[c][x − x.qmin] with c the channel (axis 1); `table` holds one row of
  /// 2^bits(x) output codes, or one per channel.
  public static func lookup(_ x: IntTensor, table: IntTensor) -> IntTensor {
    let entries = table.shape[table.shape.rank - 1], rows = table.shape.count / max(1, entries)
    let channels = x.shape.rank >= 2 ? x.shape[1] : 1
    precondition(rows == 1 || rows == channels, "lookup: \(rows) tables for \(channels) channels")
    var out = IntTensor(uninitialized: x.shape, format: table.format)
    let outer = x.shape.rank >= 1 ? x.shape[0] : 1
    let inner = x.shape.count / max(1, outer * channels)
    cks_lookup_i16(x.codes, &out.codes, Int64(outer), Int64(channels), Int64(inner), table.codes, Int64(rows),
                   Int32(x.format.qmin), Int64(entries))
    return out
  }

  /// x repeated along its size-1 axes (and new leading axes) to `shape`.
  public static func broadcast(_ x: IntTensor, to shape: Shape) -> IntTensor {
    if x.shape == shape { return x }
    let rank = shape.rank, pad = rank - x.shape.rank
    precondition(pad >= 0, "broadcast: \(x.shape) has more axes than \(shape)")
    let dims = [Int](repeating: 1, count: pad) + x.shape.dims
    let s = Shape(dims).strides
    let strides = (0..<rank).map { k -> Int64 in
      precondition(dims[k] == shape[k] || dims[k] == 1, "broadcast: \(x.shape) does not broadcast to \(shape)")
      return dims[k] == 1 ? 0 : Int64(s[k])
    }
    var out = IntTensor(zeros: shape, format: x.format)
    guard shape.count > 0 else { return out }
    let d = shape.dims.map(Int64.init)
    x.codes.withUnsafeBufferPointer { src in
      out.codes.withUnsafeMutableBufferPointer { dst in cks_gather_i16(dst.baseAddress, src.baseAddress, Int32(rank), d, strides, 0) }
    }
    return out
  }

  /// Both operands at their common broadcast shape.
  static func broadcastPair(_ a: IntTensor, _ b: IntTensor) -> (IntTensor, IntTensor) {
    if a.shape == b.shape { return (a, b) }
    let rank = max(a.shape.rank, b.shape.rank)
    let da = [Int](repeating: 1, count: rank - a.shape.rank) + a.shape.dims
    let db = [Int](repeating: 1, count: rank - b.shape.rank) + b.shape.dims
    let shape = Shape(zip(da, db).map { max($0, $1) })
    return (broadcast(a, to: shape), broadcast(b, to: shape))
  }

  /// Codes of float values: saturate(round(x · 2^f)) (the fake-quant formula).
  public static func quantize(_ x: Tensor, format: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    var out = IntTensor(uninitialized: x.shape, format: format)
    let scale = Float(Double(sign: .plus, exponent: format.fractionalBits, significand: 1))
    x.withUnsafeBufferPointer { xp in
      cks_quantize(xp.baseAddress, &out.codes, Int64(x.count), scale, rounding.c, Int32(format.qmin), Int32(format.qmax))
    }
    return out
  }
}

func withOptional32<R>(_ a: [Int32]?, _ body: (UnsafePointer<Int32>?) -> R) -> R {
  guard let a else { return body(nil) }
  return a.withUnsafeBufferPointer { body($0.baseAddress) }
}

func withOptional<R>(_ a: [Int64]?, _ body: (UnsafePointer<Int64>?) -> R) -> R {
  guard let a else { return body(nil) }
  return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
