import Layers
import TensorCore

extension Importer {
  /// The pool geometry of MaxPool / AveragePool: kernel, strides, dilations, symmetric pads,
  /// ceil_mode, auto_pad.
  func poolGeometry(_ c: NodeContext, _ x: RuntimeValue) throws -> Pool2DGeometry {
    guard x.rank == 4 else { throw c.fail("only 2-D pooling is supported (input [N, C, H, W]); the input has rank \(x.rank)") }
    guard let kernel = try c.ints("kernel_shape"), kernel.count == 2, kernel.allSatisfy({ $0 > 0 }) else {
      throw c.fail("kernel_shape must give two positive sizes")
    }
    let s = try spatialGeometry(c, input: (x.sample[1], x.sample[2]), kernel: (kernel[0], kernel[1]))
    guard s.pads.0 == s.pads.2, s.pads.1 == s.pads.3 else {
      throw c.fail("pads \(s.pads) are not symmetric; pooling with different leading and trailing padding is not supported")
    }
    if try c.int("storage_order", default: 0) != 0 { throw c.fail("storage_order 1 is not supported") }
    var g = Pool2DGeometry(kernel: (kernel[0], kernel[1]))
    (g.strideH, g.strideW, g.dilationH, g.dilationW) = (s.stride.0, s.stride.1, s.dilation.0, s.dilation.1)
    (g.padH, g.padW) = (s.pads.0, s.pads.1)
    g.ceilMode = try c.int("ceil_mode", default: 0) != 0
    do { try g.validate(height: x.sample[1], width: x.sample[2]) } catch { throw c.fail("\(error)") }
    return g
  }

  func pooled(_ c: NodeContext, _ layer: any Layer, _ x: RuntimeValue, _ g: Pool2DGeometry) -> [ImportValue] {
    let (oh, ow) = g.outputSize(x.sample[1], x.sample[2])
    return [.runtime(RuntimeValue(node: c.add(layer, [x]), sample: [x.sample[0], oh, ow]))]
  }

  func maxPool(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    if c.node.output.count > 1, !c.node.output[1].isEmpty, c.importer.useCount(c.node.output[1]) > 0 {
      throw c.fail("its Indices output is used; only the pooled values are supported")
    }
    let x = try c.runtime(0), g = try poolGeometry(c, x)
    return pooled(c, MaxPool2D(geometry: g), x, g)
  }

  func averagePool(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let x = try c.runtime(0)
    guard try c.ints("dilations").map({ $0.allSatisfy { $0 == 1 } }) ?? true else { throw c.fail("dilated average pooling is not supported") }
    let g = try poolGeometry(c, x)
    let include = try c.int("count_include_pad", default: 0) != 0
    return pooled(c, AvgPool2D(geometry: g, countIncludePad: include), x, g)
  }

  func globalAveragePool(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let x = try c.runtime(0)
    guard x.rank == 4 else { throw c.fail("only [N, C, H, W] inputs are supported, got rank \(x.rank)") }
    return [.runtime(RuntimeValue(node: c.add(GlobalAvgPool(), [x]), sample: [x.sample[0], 1, 1]))]
  }

  func globalMaxPool(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let x = try c.runtime(0)
    guard x.rank == 4 else { throw c.fail("only [N, C, H, W] inputs are supported, got rank \(x.rank)") }
    let g = Pool2DGeometry(kernel: (x.sample[1], x.sample[2]))
    return pooled(c, MaxPool2D(geometry: g), x, g)
  }

  /// ReduceMean over H and W of [N, C, H, W] is global average pooling (with keepdims 0, then a
  /// reshape to [N, C]); of constants it folds.
  func reduceMean(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...2)
    let keep = try c.int("keepdims", default: 1) != 0
    var axes = opset >= 18 ? (c.has(1) ? try c.ints(1) : nil) : try c.ints("axes")
    let x = try c.runtime(0)
    axes = try axes.map { try $0.map { try normalizedAxis($0, rank: x.rank, c) } }
    guard x.rank == 4, let a = axes, Set(a) == [2, 3] else {
      throw c.fail("only the mean over H and W of [N, C, H, W] is supported (axes \(axes.map { "\($0)" } ?? "all"))")
    }
    let pool = c.add(GlobalAvgPool(), [x], suffix: keep ? nil : "pool")
    guard !keep else { return [.runtime(RuntimeValue(node: pool, sample: [x.sample[0], 1, 1]))] }
    let node = c.add(Reshape([x.sample[0]]), [RuntimeValue(node: pool, sample: [x.sample[0], 1, 1])])
    return [.runtime(RuntimeValue(node: node, sample: [x.sample[0]]))]
  }
}
