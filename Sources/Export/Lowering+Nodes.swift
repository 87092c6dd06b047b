import DeployFormat
import Layers
import QAT
import TensorCore

extension Lowering {
  mutating func lower(_ i: Int) throws {
    if fused.contains(i) { return }
    let node = model.nodes[i]
    switch node.layer {
    case is Input:
      let (fi, q, _) = try outputQuantizer(of: i, allowActivation: false)
      define(fi, q)
      graph.inputs.append(q.label)
      graph.nodes.append(DeployNode(name: node.name, op: .input, inputs: [], output: q.label))
    case let q as FixNeuron:
      guard tensorOf[i] == nil else { return }  // defined by its producer
      throw DeployError("quantizer \(q.label) follows a node that was not lowered")
    case let l as QuantizedConv2D: try lowerWeighted(i, l, conv: l.conv)
    case let l as QuantizedLinear: try lowerWeighted(i, l, conv: nil)
    case is Add:
      let (fi, q, act) = try outputQuantizer(of: i, allowActivation: true)
      var d = DeployNode(name: node.name, op: .add, inputs: [try inputTensor(i, 0), try inputTensor(i, 1)], output: q.label)
      d.activation = act
      define(fi, q)
      graph.nodes.append(d)
    case let c as Concat:
      let (fi, q, _) = try outputQuantizer(of: i, allowActivation: false)
      var d = DeployNode(name: node.name, op: .concat, inputs: try node.inputs.indices.map { try inputTensor(i, $0) }, output: q.label)
      d.axis = c.axis > 0 ? c.axis - 1 : c.axis
      define(fi, q)
      graph.nodes.append(d)
    case let p as DPUAvgPool:
      let (fi, q, _) = try outputQuantizer(of: i, allowActivation: false)
      var d = DeployNode(name: node.name, op: p.geometry == nil ? .globalAvgPool : .avgPool, inputs: [try inputTensor(i)], output: q.label)
      d.pool = p.geometry
      d.poolMultiplier = p.multiplier
      d.poolShift = p.shift
      define(fi, q)
      graph.nodes.append(d)
    case let l as ReLU6:
      try lowerRescaling(i, op: .relu6, activation: .relu6, l)
    case let l as LeakyReLU where l.negativeSlope == FusedActivation.leakySlope:
      try lowerRescaling(i, op: .leakyRelu, activation: .leakyRelu, l)
    case is Identity, is Dropout:
      tensorOf[i] = try inputTensor(i)
    default:
      try lowerGridPreserving(i)
    }
  }

  /// Ops whose output stays on the input's grid.
  mutating func lowerGridPreserving(_ i: Int) throws {
    let node = model.nodes[i]
    let input = try inputTensor(i)
    var d = DeployNode(name: node.name, op: .relu, inputs: [input], output: node.name)
    switch node.layer {
    case is ReLU: d.op = .relu
    case let p as MaxPool2D: (d.op, d.pool) = (.maxPool, p.geometry)
    case let s as Slice:
      d.op = .slice
      let inShape = graph.tensors[input]!.shape
      guard s.ranges.first.map({ $0 == .all || ($0.start == 0 && $0.step == 1) }) ?? true else {
        throw DeployError("node \(node.name): slicing the batch axis is not supported")
      }
      d.slice = s.ranges.dropFirst().enumerated().map { k, r in
        let (start, count) = r.resolved(length: inShape[k])
        return DeploySlice(start: start, end: start + count * r.step, step: r.step)
      }
    case let p as Pad:
      guard p.value == 0, p.before.first == 0, p.after.first == 0 else {
        throw DeployError("node \(node.name): only zero padding of non-batch axes is supported")
      }
      (d.op, d.padBefore, d.padAfter) = (.pad, Array(p.before.dropFirst()), Array(p.after.dropFirst()))
    case let f as Flatten:
      guard f.startAxis == 1 else { throw DeployError("node \(node.name): only flatten from axis 1 is supported") }
      d.op = .flatten
    case let r as Reshape: (d.op, d.shape) = (.reshape, r.shape)
    case let u as Upsample: (d.op, d.scale) = (.upsample, u.scale)
    default:
      throw DeployError("node \(node.name) (\(node.layer.kind)): no integer implementation in the deploy format; fold it, replace it or list it in ignore_nodes (and end the quantized region before it)")
    }
    definePassThrough(i, from: input)
    graph.nodes.append(d)
  }

  /// ReLU6 / LeakyReLU on a quantized tensor, followed by their own quantizer.
  mutating func lowerRescaling(_ i: Int, op: DeployOp, activation: DeployActivation, _ layer: any Layer) throws {
    let (fi, q, _) = try outputQuantizer(of: i, allowActivation: false)
    var d = DeployNode(name: model.nodes[i].name, op: op, inputs: [try inputTensor(i)], output: q.label)
    d.activation = activation
    define(fi, q)
    graph.nodes.append(d)
  }

  mutating func lowerWeighted(_ i: Int, _ layer: any WeightQuantized, conv: Conv2D?) throws {
    let node = model.nodes[i]
    let (fi, q, _) = try outputQuantizer(of: i, allowActivation: false)
    var d = DeployNode(name: node.name, op: conv == nil ? .linear : .conv2d, inputs: [try inputTensor(i)], output: q.label)
    d.activation = layer.activation.map { a -> DeployActivation in
      switch a { case .relu: .relu; case .relu6: .relu6; case .leakyRelu: .leakyRelu }
    } ?? DeployActivation.none
    let fw = layer.weightQuantizer.fixedPointFormat!
    let w = try IntTensor(onGrid: layer.weightQuantizer.quantize(layer.weightParameter.value), format: fw)
    d.weight = node.name + ".weight"
    d.weightBits = fw.bits
    d.weightFractionalBits = fw.fractionalBits
    payload[node.name + ".weight"] = DeployPayload.Entry(shape: w.shape.dims, values: w.codes.map(Int32.init), bits: fw.bits)
    if let bp = layer.biasParameter {
      guard let bq = layer.biasQuantizer, let fb = bq.fixedPointFormat else {
        throw DeployError("node \(node.name): its bias is not quantized")
      }
      let b = try IntTensor(onGrid: bq.quantize(bp.value), format: fb)
      d.bias = node.name + ".bias"
      d.biasBits = fb.bits
      d.biasFractionalBits = fb.fractionalBits
      payload[node.name + ".bias"] = DeployPayload.Entry(shape: b.shape.dims, values: b.codes.map(Int32.init), bits: fb.bits)
    }
    if let s = ShiftConstraints.shifts(layer) { (d.shiftCut, d.shiftBias) = (s.cut, s.bias) }
    if let conv {
      d.conv = conv.geometry
      d.kernel = [conv.kernelSize.h, conv.kernelSize.w]
    }
    define(fi, q)
    graph.nodes.append(d)
  }
}
