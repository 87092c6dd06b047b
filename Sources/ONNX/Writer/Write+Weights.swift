import Layers
import TensorCore

typealias Attr = ONNXAttribute

/// Conv / ConvTranspose attributes of a geometry (pads as top, left, bottom, right).
func convAttributes(_ g: ConvGeometry, kernel: (h: Int, w: Int)) -> [Onnx_AttributeProto] {
  [Attr.ints("kernel_shape", [kernel.h, kernel.w]), Attr.ints("strides", [g.strideH, g.strideW]),
   Attr.ints("pads", [g.padTop, g.padLeft, g.padBottom, g.padRight]), Attr.ints("dilations", [g.dilationH, g.dilationW]),
   Attr.int("group", g.groups)]
}

extension Conv2D: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    var inputs = [w.input, w.tensor("weight", weight.value)]
    if let bias { inputs.append(w.tensor("bias", bias.value)) }
    w.final("Conv", inputs, convAttributes(geometry, kernel: kernelSize))
  }
}

extension ConvTranspose2D: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    var inputs = [w.input, w.tensor("weight", weight.value)]
    if let bias { inputs.append(w.tensor("bias", bias.value)) }
    w.final("ConvTranspose", inputs, convAttributes(geometry, kernel: kernelSize) + [Attr.ints("output_padding", [outputPadding.h, outputPadding.w])])
  }
}

extension Linear: ONNXWritable {
  /// Gemm (transB) on [N, K] inputs; on higher ranks MatMul with the transposed weight, then Add
  /// of the bias (PyTorch's export of a linear layer over the last axis).
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    if w.inputRank == 2 {
      var inputs = [w.input, w.tensor("weight", weight.value)]
      if let bias { inputs.append(w.tensor("bias", bias.value)) }
      w.final("Gemm", inputs, [Attr.int("transB", 1)])
      return
    }
    let v = weight.value.scalars, (o, k) = (outFeatures, inFeatures)
    var transposed = [Float](repeating: 0, count: v.count)
    for i in 0..<o { for j in 0..<k { transposed[j * o + i] = v[i * k + j] } }
    let matrix = w.tensor("weight", Tensor(transposed, shape: [k, o]))
    guard let bias else {
      w.final("MatMul", [w.input, matrix])
      return
    }
    let product = w.step("MatMul", "matmul", [w.input, matrix], nodeName: w.name)
    w.final("Add", [product, w.tensor("bias", bias.value)], nodeName: "\(w.name)/bias")
  }
}

extension BatchNorm2D: ONNXWritable {
  /// Inference form: the running statistics (ONNX's momentum weighs the running value).
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let inputs = [w.input, w.tensor("weight", weight.value), w.tensor("bias", bias.value),
                  w.tensor("running_mean", runningMean.value), w.tensor("running_var", runningVar.value)]
    w.final("BatchNormalization", inputs, [Attr.float("epsilon", epsilon), Attr.float("momentum", 1 - momentum)])
  }
}

extension ChannelAffine: ONNXWritable {
  /// x · scale + shift with the per-channel vectors shaped [C, 1, ...] against axis 1.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let shape = [channels] + [Int](repeating: 1, count: max(0, w.inputRank - 2))
    let scaled = w.step("Mul", "scaled", [w.input, w.tensor("scale", scale.value, shape: shape)], nodeName: w.name)
    w.final("Add", [scaled, w.tensor("shift", shift.value, shape: shape)], nodeName: "\(w.name)/shift")
  }
}

extension PReLU: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("PRelu", [w.input, w.tensor("weight", slope.value)]) }
}

extension Elementwise: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let op = ["add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div"][operation.rawValue]!
    guard let constant else {
      w.final(op, w.inputs)
      return
    }
    let k = w.tensor("constant", constant.value)
    w.final(op, constantFirst ? [k, w.input] : [w.input, k])
  }
}
