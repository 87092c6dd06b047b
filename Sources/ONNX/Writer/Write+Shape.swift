import Layers
import TensorCore

/// MaxPool / AveragePool attributes (symmetric pads).
func poolAttributes(_ g: Pool2DGeometry) -> [Onnx_AttributeProto] {
  [Attr.ints("kernel_shape", [g.kernelH, g.kernelW]), Attr.ints("strides", [g.strideH, g.strideW]),
   Attr.ints("pads", [g.padH, g.padW, g.padH, g.padW]), Attr.int("ceil_mode", g.ceilMode ? 1 : 0)]
}

extension MaxPool2D: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    w.final("MaxPool", [w.input], poolAttributes(geometry) + [Attr.ints("dilations", [geometry.dilationH, geometry.dilationW])])
  }
}

extension AvgPool2D: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    guard geometry.dilationH == 1, geometry.dilationW == 1 else { throw w.fail("dilated average pooling has no ONNX form before opset 19") }
    w.final("AveragePool", [w.input], poolAttributes(geometry) + [Attr.int("count_include_pad", countIncludePad ? 1 : 0)])
  }
}

extension GlobalAvgPool: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("GlobalAveragePool", [w.input]) }
}

/// Reshape to the node's output shape, the batch axis copied (0).
func writeReshape(_ w: inout ONNXNodeWriter) {
  w.final("Reshape", [w.input, w.constant("shape", ints: [0] + w.outputShape.dims.dropFirst())])
}

extension Flatten: ONNXWritable {
  /// ONNX Flatten gives [N, rest] only for axis 1; other start axes keep the leading axes: a Reshape.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    if startAxis == 1 { return w.final("Flatten", [w.input], [Attr.int("axis", 1)]) }
    writeReshape(&w)
  }
}

extension Reshape: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { writeReshape(&w) }
}

extension Identity: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Identity", [w.input]) }
}

extension Dropout: ONNXWritable {
  /// Inference: the identity.
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Identity", [w.input]) }
}

extension Slice: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let axes = ranges.indices.filter { ranges[$0] != .all }
    guard !axes.isEmpty else { return w.final("Identity", [w.input]) }
    let starts = axes.map { ranges[$0].start }, ends = axes.map { ranges[$0].end == Int.max ? Int(Int64.max) : ranges[$0].end }
    w.final("Slice", [w.input, w.constant("starts", ints: starts), w.constant("ends", ints: ends),
                      w.constant("axes", ints: axes), w.constant("steps", ints: axes.map { ranges[$0].step })])
  }
}

extension Pad: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    w.final("Pad", [w.input, w.constant("pads", ints: before + after), w.constant("value", floats: [value], shape: [])],
            [Attr.string("mode", "constant")])
  }
}

extension Upsample: ONNXWritable {
  /// Nearest Resize by integer factors: asymmetric coordinates with floor rounding repeat each pixel.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let scales = w.constant("scales", floats: [1, 1, Float(scaleH), Float(scaleW)], shape: [4])
    w.final("Resize", [w.input, "", scales], [Attr.string("mode", "nearest"), Attr.string("coordinate_transformation_mode", "asymmetric"),
                                               Attr.string("nearest_mode", "floor")])
  }
}

extension Transpose: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Transpose", [w.input], [Attr.ints("perm", perm)]) }
}

extension MatMul: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("MatMul", w.inputs) }
}

extension Add: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Add", w.inputs) }
}

extension Concat: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Concat", w.inputs, [Attr.int("axis", axis)]) }
}
