import Layers
import TensorCore

extension Importer {
  /// Strides, dilations and pads of a 2-D conv / pool ([top, left, bottom, right] in ONNX's
  /// begin-then-end order), with auto_pad resolved against the input size.
  func spatialGeometry(_ c: NodeContext, input: (h: Int, w: Int), kernel: (h: Int, w: Int), transposed: Bool = false)
    throws -> (stride: (Int, Int), dilation: (Int, Int), pads: (Int, Int, Int, Int)) {
    let strides = try c.ints("strides") ?? [1, 1]
    let dilations = try c.ints("dilations") ?? [1, 1]
    guard strides.count == 2, dilations.count == 2, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
      throw c.fail("strides \(strides) and dilations \(dilations) must be two positive values (2-D only)")
    }
    var pads = try c.ints("pads") ?? [0, 0, 0, 0]
    guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else { throw c.fail("pads \(pads) must be four non-negative values") }
    let autoPad = try c.string("auto_pad", default: "NOTSET")
    switch autoPad {
    case "NOTSET": break
    case "VALID": pads = [0, 0, 0, 0]
    case "SAME_UPPER", "SAME_LOWER":
      guard !transposed else { break }  // ConvTranspose resolves it from the output size
      let sizes = [input.h, input.w], ks = [kernel.h, kernel.w]
      for k in 0..<2 {
        let out = (sizes[k] + strides[k] - 1) / strides[k]
        let total = max(0, (out - 1) * strides[k] + (ks[k] - 1) * dilations[k] + 1 - sizes[k])
        let small = total / 2, large = total - small
        (pads[k], pads[k + 2]) = autoPad == "SAME_UPPER" ? (small, large) : (large, small)
      }
    default: throw c.fail("auto_pad '\(autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    }
    return ((strides[0], strides[1]), (dilations[0], dilations[1]), (pads[0], pads[1], pads[2], pads[3]))
  }

  func convGeometry(_ s: (stride: (Int, Int), dilation: (Int, Int), pads: (Int, Int, Int, Int)), groups: Int) -> ConvGeometry {
    var g = ConvGeometry()
    (g.strideH, g.strideW, g.dilationH, g.dilationW, g.groups) = (s.stride.0, s.stride.1, s.dilation.0, s.dilation.1, groups)
    (g.padTop, g.padLeft, g.padBottom, g.padRight) = s.pads
    return g
  }

  /// The computed input [N, C, H, W], the constant 4-D weight and the group count of Conv and
  /// ConvTranspose (`layout` names the weight's axes in messages).
  func convOperands(_ c: NodeContext, layout: String) throws -> (RuntimeValue, ConstantTensor, Int) {
    try c.requireInputs(2...3)
    let x = try c.runtime(0)
    guard x.rank == 4 else { throw c.fail("only 2-D convolutions are supported (input [N, C, H, W]); the input has rank \(x.rank)") }
    let w = try c.constant(1)
    guard w.shape.count == 4, w.count > 0 else { throw c.fail("weight '\(c.inputName(1))' must be \(layout), got \(w.shape)") }
    return (x, w, try c.int("group", default: 1))
  }

  func conv(_ c: NodeContext) throws -> [ImportValue] {
    let (x, w, groups) = try convOperands(c, layout: "[out, in/groups, kh, kw]")
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    guard groups >= 1, x.sample[0] == w.shape[1] * groups, o % groups == 0 else {
      throw c.fail("input has \(x.sample[0]) channels; weight \(w.shape) with \(groups) group(s) needs \(w.shape[1] * groups) and an output count divisible by the groups")
    }
    if let ks = try c.ints("kernel_shape"), ks != [kh, kw] { throw c.fail("kernel_shape \(ks) does not match the weight \(w.shape)") }
    let s = try spatialGeometry(c, input: (x.sample[1], x.sample[2]), kernel: (kh, kw))
    let g = convGeometry(s, groups: groups)
    do { try g.validate(channels: x.sample[0], height: x.sample[1], width: x.sample[2], outChannels: o, kernelH: kh, kernelW: kw) } catch {
      throw c.fail("\(error)")
    }
    var names: [String: String] = [:]
    try c.claim(1, as: "weight", into: &names)
    var bias: Tensor? = nil
    if let b = try c.optionalConstant(2) {
      guard b.shape == [o] else { throw c.fail("bias '\(c.inputName(2))' must be [\(o)], got \(b.shape)") }
      bias = b.tensor
      try c.claim(2, as: "bias", into: &names)
    }
    let (oh, ow) = g.outputSize(inputH: x.sample[1], inputW: x.sample[2], kernelH: kh, kernelW: kw)
    let node = c.add(Conv2D(weight: w.tensor, bias: bias, geometry: g), [x], tensorNames: names)
    return [.runtime(RuntimeValue(node: node, sample: [o, oh, ow]))]
  }

  func convTranspose(_ c: NodeContext) throws -> [ImportValue] {
    let (x, w, groups) = try convOperands(c, layout: "[in, out/groups, kh, kw]")
    guard groups >= 1, w.shape[0] == x.sample[0], x.sample[0] % groups == 0 else {
      throw c.fail("input has \(x.sample[0]) channels; weight \(w.shape) needs \(w.shape[0]) divisible by \(groups) group(s)")
    }
    let (kh, kw) = (w.shape[2], w.shape[3]), out = w.shape[1] * groups
    if let ks = try c.ints("kernel_shape"), ks != [kh, kw] { throw c.fail("kernel_shape \(ks) does not match the weight \(w.shape)") }
    var s = try spatialGeometry(c, input: (x.sample[1], x.sample[2]), kernel: (kh, kw), transposed: true)
    let outputPadding = try c.ints("output_padding") ?? [0, 0]
    guard outputPadding.count == 2, outputPadding.allSatisfy({ $0 >= 0 }),
          outputPadding[0] < max(s.stride.0, s.dilation.0), outputPadding[1] < max(s.stride.1, s.dilation.1) else {
      throw c.fail("output_padding \(outputPadding) must be two values below the stride (or dilation)")
    }
    let autoPad = try c.string("auto_pad", default: "NOTSET")
    if let shape = try c.ints("output_shape") {
      let target = Array(shape.suffix(2))
      guard target.count == 2 else { throw c.fail("output_shape \(shape) needs the spatial sizes") }
      var pads = [0, 0, 0, 0]
      let ins = [x.sample[1], x.sample[2]], ks = [kh, kw], st = [s.stride.0, s.stride.1], dl = [s.dilation.0, s.dilation.1]
      for k in 0..<2 {
        let total = st[k] * (ins[k] - 1) + outputPadding[k] + (ks[k] - 1) * dl[k] + 1 - target[k]
        guard total >= 0 else { throw c.fail("output_shape \(target) is larger than the transposed convolution can produce") }
        (pads[k], pads[k + 2]) = autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
      }
      s.pads = (pads[0], pads[1], pads[2], pads[3])
    } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
      // output = input · stride: the padding removes the rest of the full output
      let ins = [x.sample[1], x.sample[2]], ks = [kh, kw], st = [s.stride.0, s.stride.1], dl = [s.dilation.0, s.dilation.1]
      var pads = [0, 0, 0, 0]
      for k in 0..<2 {
        let total = max(0, st[k] * (ins[k] - 1) + outputPadding[k] + (ks[k] - 1) * dl[k] + 1 - ins[k] * st[k])
        (pads[k], pads[k + 2]) = autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
      }
      s.pads = (pads[0], pads[1], pads[2], pads[3])
    }
    let g = convGeometry(s, groups: groups)
    do { try g.validate() } catch { throw c.fail("\(error)") }
    let layer = ConvTranspose2D(weight: w.tensor, bias: nil, geometry: g, outputPadding: (outputPadding[0], outputPadding[1]))
    let (oh, ow) = layer.outputSize(height: x.sample[1], width: x.sample[2])
    guard oh > 0, ow > 0, g.padTop + g.padBottom < (kh - 1) * g.dilationH + 1 + (x.sample[1] - 1) * g.strideH,
          g.padLeft + g.padRight < (kw - 1) * g.dilationW + 1 + (x.sample[2] - 1) * g.strideW else {
      throw c.fail("pads \(s.pads) leave no output for input \(x.sample)")
    }
    // the same geometry as a convolution from the output back to the input must fit exactly
    do { try g.validate(channels: out, height: oh, width: ow, outChannels: x.sample[0], kernelH: kh, kernelW: kw) } catch {
      throw c.fail("\(error)")
    }
    guard g.outputSize(inputH: oh, inputW: ow, kernelH: kh, kernelW: kw) == (x.sample[1], x.sample[2]) else {
      throw c.fail("pads \(s.pads) and output_padding \(outputPadding) do not give an output the convolution maps back to \(x.sample[1])x\(x.sample[2])")
    }
    var names: [String: String] = [:]
    try c.claim(1, as: "weight", into: &names)
    var final = layer
    if let b = try c.optionalConstant(2) {
      guard b.shape == [out] else { throw c.fail("bias '\(c.inputName(2))' must be [\(out)], got \(b.shape)") }
      final = ConvTranspose2D(weight: w.tensor, bias: b.tensor, geometry: g, outputPadding: layer.outputPadding)
      try c.claim(2, as: "bias", into: &names)
    }
    let node = c.add(final, [x], tensorNames: names)
    return [.runtime(RuntimeValue(node: node, sample: [out, oh, ow]))]
  }

  func batchNormalization(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(5...5)
    let x = try c.runtime(0)
    guard x.rank >= 2 else { throw c.fail("input needs a channel axis (rank ≥ 2)") }
    let channels = x.sample[0]
    let parts = try (1...4).map { try c.constant($0) }
    for (k, p) in parts.enumerated() where p.shape != [channels] {
      throw c.fail("input \(k + 1) ('\(c.inputName(k + 1))') must be [\(channels)], got \(p.shape)")
    }
    if try c.int("training_mode", default: 0) != 0 { throw c.fail("training_mode 1 is not supported (export the model in eval mode)") }
    for o in c.node.output.dropFirst() where !o.isEmpty && c.importer.useCount(o) > 0 {
      throw c.fail("its running-statistics outputs are used; only the normalised output is supported")
    }
    let epsilon = try c.float("epsilon", default: 1e-5), momentum = try c.float("momentum", default: 0.9)
    guard epsilon > 0, (0...1).contains(momentum) else { throw c.fail("epsilon \(epsilon) must be positive and momentum \(momentum) in [0, 1]") }
    // ONNX's momentum weighs the running value (PyTorch's weighs the batch): 0.9 there is 0.1 here
    let bn = BatchNorm2D(channels, epsilon: epsilon, momentum: 1 - momentum)
    guard parts[3].floats.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw c.fail("running variance '\(c.inputName(4))' must be non-negative") }
    (bn.weight.value, bn.bias.value) = (parts[0].tensor, parts[1].tensor)
    (bn.runningMean.value, bn.runningVar.value) = (parts[2].tensor, parts[3].tensor)
    bn.setPhase(.inference)
    var names: [String: String] = [:]
    for (k, local) in ["weight", "bias", "running_mean", "running_var"].enumerated() { try c.claim(k + 1, as: local, into: &names) }
    let node = c.add(bn, [x], tensorNames: names)
    return [.runtime(RuntimeValue(node: node, sample: x.sample))]
  }
}
