import CDNNL

enum ConvDirection: Hashable, Sendable { case forward, backwardData, backwardWeights }

struct ConvKey: Hashable, Sendable {
  var direction: ConvDirection
  var input: [Int]
  var weight: [Int]
  var geometry: ConvGeometry
  var hasBias: Bool
  var threads: Int
}

/// A created oneDNN convolution primitive with the layouts of its three tensor operands.
/// `source`, `weights` and `destination` are, by direction: forward (x, w, y); backward data
/// (dx, w, dy); backward weights (x, dw, dy).
final class ConvPlan: @unchecked Sendable {
  let primitive: dnnl_primitive_t
  let source: DNNLOperand
  let weights: DNNLOperand
  let destination: DNNLOperand
  let bias: dnnl_memory_desc_t?
  /// User-managed scratchpad: every execution brings its own, so concurrent executions of one
  /// primitive (from several threads) never share temporary memory.
  let scratchpad: dnnl_memory_desc_t

  init(_ key: ConvKey) {
    let g = key.geometry
    let out = g.outputShape(input: Shape(key.input), weight: Shape(key.weight)).dims
    let wDims = g.groups > 1
      ? [g.groups, key.weight[0] / g.groups, key.weight[1], key.weight[2], key.weight[3]]
      : key.weight
    let plainSrc = plainDesc(key.input, tag: dnnl_nchw)
    let plainW = plainDesc(wDims, tag: g.groups > 1 ? dnnl_goihw : dnnl_oihw)
    let plainDst = plainDesc(out, tag: dnnl_nchw)
    var anySrc = anyDesc(key.input), anyW = anyDesc(wDims), anyDst = anyDesc(out)
    let biasDesc = plainDesc([key.weight[0]], tag: dnnl_a)
    let strides: [Int64] = [Int64(g.strideH), Int64(g.strideW)]
    let dilates: [Int64] = [Int64(g.dilationH - 1), Int64(g.dilationW - 1)]
    let padL: [Int64] = [Int64(g.padTop), Int64(g.padLeft)]
    let padR: [Int64] = [Int64(g.padBottom), Int64(g.padRight)]
    let engine = DNNLEngine.shared.engine
    var attr: dnnl_primitive_attr_t?
    dnnlCheck(dnnl_primitive_attr_create(&attr), "primitive attributes")
    defer { dnnl_primitive_attr_destroy(attr) }
    dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")

    // The forward descriptor is needed in every direction (as the hint for backward ones).
    var fd = dnnl_convolution_desc_t()
    dnnlCheck(withOptionalDesc(key.hasBias ? biasDesc : nil) { b in
      dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                                 &anySrc, &anyW, b, &anyDst, strides, dilates, padL, padR)
    }, "convolution forward descriptor")
    var fpd: dnnl_primitive_desc_t?
    dnnlCheck(dnnl_primitive_desc_create(&fpd, &fd, attr, engine, nil), "convolution forward primitive descriptor for \(key)")
    defer { dnnl_primitive_desc_destroy(fpd) }

    var pd: dnnl_primitive_desc_t? = nil
    let queries: (dnnl_query_t, dnnl_query_t, dnnl_query_t)
    switch key.direction {
    case .forward:
      pd = fpd
      queries = (dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md)
    case .backwardData:
      var bd = dnnl_convolution_desc_t()
      // Few input channels (the image): a blocked diff_src would be mostly padding, so ask for
      // plain NCHW directly.
      var diffSrc = key.input[1] % 8 == 0 ? anySrc : plainSrc
      dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &diffSrc, &anyW, &anyDst,
                                                                  strides, dilates, padL, padR), "convolution backward-data descriptor")
      dnnlCheck(dnnl_primitive_desc_create(&pd, &bd, attr, engine, fpd), "convolution backward-data primitive descriptor for \(key)")
      queries = (dnnl_query_diff_src_md, dnnl_query_weights_md, dnnl_query_diff_dst_md)
    case .backwardWeights:
      var bw = dnnl_convolution_desc_t()
      dnnlCheck(withOptionalDesc(key.hasBias ? biasDesc : nil) { b in
        dnnl_dilated_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &anySrc, &anyW, b, &anyDst,
                                                            strides, dilates, padL, padR)
      }, "convolution backward-weights descriptor")
      dnnlCheck(dnnl_primitive_desc_create(&pd, &bw, attr, engine, fpd), "convolution backward-weights primitive descriptor for \(key)")
      queries = (dnnl_query_src_md, dnnl_query_diff_weights_md, dnnl_query_diff_dst_md)
    }
    let chosenSrc = dnnl_primitive_desc_query_md(pd, queries.0, 0)!.pointee
    let chosenW = dnnl_primitive_desc_query_md(pd, queries.1, 0)!.pointee
    let chosenDst = dnnl_primitive_desc_query_md(pd, queries.2, 0)!.pointee
    // Which operands are read (reordered in) and which are written (reordered out).
    let (srcIn, wIn, dstIn) = switch key.direction {
    case .forward: (true, true, false)
    case .backwardData: (false, true, true)
    case .backwardWeights: (true, false, true)
    }
    source = DNNLOperand(plain: plainSrc, chosen: chosenSrc, dims: key.input, input: srcIn, allowBlocked: true)
    weights = DNNLOperand(plain: plainW, chosen: chosenW, dims: wDims, input: wIn, allowBlocked: false)
    destination = DNNLOperand(plain: plainDst, chosen: chosenDst, dims: out, input: dstIn, allowBlocked: true)
    bias = key.hasBias ? biasDesc : nil
    scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
    var p: dnnl_primitive_t?
    dnnlCheck(dnnl_primitive_create(&p, pd), "convolution primitive")
    primitive = p!
    if key.direction != .forward { dnnl_primitive_desc_destroy(pd) }
  }

  deinit { dnnl_primitive_destroy(primitive) }

  static let cache = DNNLCache<ConvKey, ConvPlan>()

  static func get(_ direction: ConvDirection, input: Shape, weight: Shape, geometry: ConvGeometry, hasBias: Bool) -> ConvPlan {
    let key = ConvKey(direction: direction, input: input.dims, weight: weight.dims, geometry: geometry,
                      hasBias: hasBias, threads: Threading.threads)
    return cache.value(for: key) { ConvPlan(key) }
  }
}

func withOptionalDesc<R>(_ d: dnnl_memory_desc_t?, _ body: (UnsafePointer<dnnl_memory_desc_t>?) -> R) -> R {
  guard var d else { return body(nil) }
  return withUnsafePointer(to: &d) { body($0) }
}
