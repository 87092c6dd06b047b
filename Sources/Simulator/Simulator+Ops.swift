import CKernels
import DeployFormat
import TensorCore

extension Simulator {
  /// One node, integer arithmetic only. The switch names every op of the deploy format.
  func execute(_ node: DeployNode, _ args: [IntTensor], input: Tensor?) throws -> IntTensor {
    let out = try tensor(node.output)
    let format = out.format, rule = out.rounding
    let activation = node.activation ?? FusedActivation.identity
    switch node.op {
    case .input:
      guard let x = input else { throw DeployError("input \(node.output) was not fed") }
      guard Array(x.shape.dims.dropFirst()) == out.shape else {
        throw DeployError("input \(node.output): expected [batch] + \(out.shape), got \(x.shape)")
      }
      return IntegerKernels.quantize(x, format: format, rounding: rule)
    case .conv2d:
      return IntegerKernels.conv2d(args[0], weight: weights[node.name]!, packed: packed[node.name], bias: biases[node.name],
                                   geometry: node.conv!, activation: activation, output: format, rounding: rule,
                                   requantization: requantizations[node.name])
    case .convTranspose:
      // a convolution of the zero-dilated, padded input with the flipped, regrouped weight
      let c = node.conv!, k = node.kernel!, extra = node.outputPadding!
      let x = IntegerShapes.dilateAndPad(args[0], stride: (c.strideH, c.strideW),
                                         before: (c.dilationH * (k[0] - 1) - c.padTop, c.dilationW * (k[1] - 1) - c.padLeft),
                                         after: (c.dilationH * (k[0] - 1) - c.padBottom + extra[0], c.dilationW * (k[1] - 1) - c.padRight + extra[1]))
      let g = ConvGeometry(stride: (1, 1), padding: (0, 0, 0, 0), dilation: (c.dilationH, c.dilationW), groups: c.groups)
      return IntegerKernels.conv2d(x, weight: weights[node.name]!, packed: packed[node.name], bias: biases[node.name],
                                   geometry: g, activation: activation, output: format, rounding: rule)
    case .linear:
      return IntegerKernels.linear(args[0], weight: weights[node.name]!, packed: packed[node.name], bias: biases[node.name],
                                   activation: activation, output: format, rounding: rule, requantization: requantizations[node.name])
    case .add, .sub:
      return IntegerKernels.add(args[0], args[1], subtract: node.op == .sub, activation: activation, output: format, rounding: rule)
    case .mul:
      return IntegerKernels.multiply(args[0], args[1], output: format, rounding: rule)
    case .hardSigmoid:
      return IntegerKernels.hardSigmoid(args[0], output: format, rounding: rule)
    case .hardSwish:
      return IntegerKernels.hardSwish(args[0], output: format, rounding: rule)
    case .lookup:
      return IntegerKernels.lookup(args[0], table: tables[node.name]!)
    case .transpose:
      let x = args[0], perm = [0] + node.perm!.map { $0 + 1 }
      guard perm.count == x.shape.rank else { throw DeployError("node \(node.name): permutation \(node.perm!) for a \(x.shape) tensor") }
      let s = x.shape.strides
      return IntegerShapes.gather(x, shape: perm.map { x.shape[$0] }, offset: 0, strides: perm.map { s[$0] })
    case .concat:
      let parts = args.map { IntegerKernels.rescale($0, to: format, rounding: rule) }
      return try IntegerShapes.concat(parts, axis: node.axis! + (node.axis! >= 0 ? 1 : 0))
    case .maxPool:
      return IntegerKernels.maxPool(args[0], node.pool!)
    case .avgPool, .globalAvgPool:
      return IntegerKernels.avgPool(args[0], geometry: node.op == .avgPool ? node.pool : nil, multiplier: node.poolMultiplier!,
                                    shift: node.poolShift!, output: format, rounding: rule)
    case .relu, .relu6, .leakyRelu:
      let a: FusedActivation = node.op == .relu ? .relu : (node.op == .relu6 ? .relu6 : .leakyRelu)
      return IntegerKernels.rescale(args[0], to: format, activation: a, rounding: rule)
    case .upsample:
      return IntegerShapes.upsample(args[0], scale: node.scale!)
    case .flatten:
      var x = args[0]
      x.shape = [x.shape[0], x.shape.count / max(1, x.shape[0])]
      return x
    case .reshape:
      var x = args[0]
      let dims = [x.shape[0]] + node.shape!
      let known = dims.filter { $0 != -1 }.reduce(1, *)
      let resolved = dims.map { $0 == -1 ? x.shape.count / max(1, known) : $0 }
      guard resolved.reduce(1, *) == x.shape.count else { throw DeployError("node \(node.name): cannot reshape \(x.shape) to \(dims)") }
      x.shape = Shape(resolved)
      return x
    case .slice:
      return IntegerShapes.slice(args[0], node.slice!)
    case .pad:
      let x = args[0].format == format ? args[0] : IntegerKernels.rescale(args[0], to: format, rounding: rule)
      return IntegerShapes.pad(x, before: node.padBefore!, after: node.padAfter!, value: Int16(node.padValue ?? 0))
    }
  }
}

/// Index-only ops on integer codes (no arithmetic).
enum IntegerShapes {
  /// Transposed-convolution weight [in, out/groups, kh, kw] as the equivalent convolution's
  /// [out, in/groups, kh, kw], each kernel flipped.
  static func transposedConvolutionWeight(_ w: IntTensor, groups: Int) -> IntTensor {
    let (cin, og, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let cg = cin / groups
    var out = IntTensor(zeros: [og * groups, cg, kh, kw], format: w.format)
    for c in 0..<cin {
      let g = c / cg
      for j in 0..<og {
        for y in 0..<kh {
          for x in 0..<kw {
            out.codes[(((g * og + j) * cg + c - g * cg) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] = w.codes[((c * og + j) * kh + y) * kw + x]
          }
        }
      }
    }
    return out
  }

  /// Inputs spread `stride` apart (zeros between), then `before` / `after` rows and columns of
  /// zeros added (negative amounts crop).
  static func dilateAndPad(_ x: IntTensor, stride: (Int, Int), before: (Int, Int), after: (Int, Int)) -> IntTensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let hu = (h - 1) * stride.0 + 1, wu = (w - 1) * stride.1 + 1
    let ho = max(0, hu + before.0 + after.0), wo = max(0, wu + before.1 + after.1)
    var out = IntTensor(zeros: [n, c, ho, wo], format: x.format)
    for p in 0..<(n * c) {
      for iy in 0..<h {
        let oy = iy * stride.0 + before.0
        guard oy >= 0 && oy < ho else { continue }
        for ix in 0..<w {
          let ox = ix * stride.1 + before.1
          guard ox >= 0 && ox < wo else { continue }
          out.codes[(p * ho + oy) * wo + ox] = x.codes[(p * h + iy) * w + ix]
        }
      }
    }
    return out
  }

  /// out[i0, …, ik] = x[offset + Σ i·strides], row by row along the last axis (in parallel).
  static func gather(_ x: IntTensor, shape: [Int], offset: Int, strides: [Int]) -> IntTensor {
    var out = IntTensor(zeros: Shape(shape), format: x.format)
    guard out.codes.count > 0 else { return out }
    let dims = shape.map(Int64.init), st = strides.map(Int64.init)
    x.codes.withUnsafeBufferPointer { src in
      out.codes.withUnsafeMutableBufferPointer { dst in
        cks_gather_i16(dst.baseAddress, src.baseAddress, Int32(dims.count), dims, st, Int64(offset))
      }
    }
    return out
  }

  static func slice(_ x: IntTensor, _ ranges: [DeploySlice]) -> IntTensor {
    let s = x.shape.strides
    var shape = x.shape.dims, strides = s, offset = 0
    for (k, r) in ranges.enumerated() {
      let axis = k + 1
      shape[axis] = max(0, (r.end - r.start + r.step - 1) / r.step)
      strides[axis] = s[axis] * r.step
      offset += r.start * s[axis]
    }
    return gather(x, shape: shape, offset: offset, strides: strides)
  }

  /// Constant padding before and after every non-batch axis (rows copied in parallel).
  static func pad(_ x: IntTensor, before: [Int], after: [Int], value: Int16 = 0) -> IntTensor {
    let dims = x.shape.dims
    let outDims = [dims[0]] + dims.dropFirst().enumerated().map { $0.element + before[$0.offset] + after[$0.offset] }
    var out = IntTensor(zeros: Shape(outDims), format: x.format)
    if value != 0 { out.codes = [Int16](repeating: value, count: out.codes.count) }
    guard x.codes.count > 0 else { return out }
    let os = out.shape.strides, rank = dims.count
    let shift = (1..<rank).reduce(0) { $0 + before[$1 - 1] * os[$1] }
    let d = dims.map(Int64.init), st = os.map(Int64.init)
    x.codes.withUnsafeBufferPointer { src in
      out.codes.withUnsafeMutableBufferPointer { dst in
        cks_scatter_i16(dst.baseAddress, st, Int64(shift), src.baseAddress, Int32(rank), d)
      }
    }
    return out
  }

  static func concat(_ xs: [IntTensor], axis: Int) throws -> IntTensor {
    let first = xs[0].shape.dims
    let a = axis < 0 ? axis + first.count : axis
    var dims = first
    dims[a] = xs.reduce(0) { $0 + $1.shape.dims[a] }
    let outer = first[..<a].reduce(1, *)
    var codes: [Int16] = []
    codes.reserveCapacity(dims.reduce(1, *))
    for o in 0..<outer {
      for x in xs {
        let block = x.shape.dims[a...].reduce(1, *)
        codes.append(contentsOf: x.codes[(o * block)..<((o + 1) * block)])
      }
    }
    return IntTensor(shape: Shape(dims), codes: codes, format: xs[0].format)
  }

  static func upsample(_ x: IntTensor, scale: Int) -> IntTensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var out = IntTensor(zeros: [n, c, h * scale, w * scale], format: x.format)
    for p in 0..<(n * c) {
      for y in 0..<(h * scale) {
        for xo in 0..<(w * scale) {
          out.codes[(p * h * scale + y) * w * scale + xo] = x.codes[(p * h + y / scale) * w + xo / scale]
        }
      }
    }
    return out
  }
}
