import CKernels

extension IntegerKernels {
  public static func maxPool(_ x: IntTensor, _ g: Pool2DGeometry) -> IntTensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = g.outputSize(h, w)
    var out = IntTensor(uninitialized: [n, c, oh, ow], format: x.format)
    cks_maxpool_i16(x.codes, &out.codes, Int64(n * c), Int32(h), Int32(w), Int32(g.kernelH), Int32(g.kernelW),
                    Int32(g.strideH), Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(g.dilationH), Int32(g.dilationW),
                    Int32(oh), Int32(ow))
    return out
  }

  /// DPU average pooling: window sums · multiplier / 2^shift, requantized to `output`. A nil
  /// geometry pools globally over H and W.
  public static func avgPool(_ x: IntTensor, geometry: Pool2DGeometry?, multiplier: Int, shift: Int,
                             output: FixedPointFormat, rounding: RoundingRule) -> IntTensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let g = geometry ?? Pool2DGeometry(kernel: (h, w))
    let (oh, ow) = g.outputSize(h, w)
    let total = n * c * oh * ow
    var sums = [Int64](unsafeUninitializedCapacity: total) { _, k in k = total }
    cks_sumpool_i16(x.codes, &sums, Int64(n * c), Int32(h), Int32(w), Int32(g.kernelH), Int32(g.kernelW),
                    Int32(g.strideH), Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(oh), Int32(ow))
    if multiplier != 1 { for i in sums.indices { sums[i] *= Int64(multiplier) } }
    var out = IntTensor(uninitialized: [n, c, oh, ow], format: output)
    let s = Int32(x.format.fractionalBits + shift - output.fractionalBits)
    cks_requantize(nil, sums, 1, 1, Int64(sums.count), 0, nil, CK_ACT_NONE, 0, s, rounding.c, Int32(output.qmin),
                   Int32(output.qmax), &out.codes)
    return out
  }
}
