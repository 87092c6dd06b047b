import CDNNL
import CKernels

// Convolution entry points. Activations may arrive and leave in oneDNN's channel-blocked layout
// (`TensorLayout.channelBlocked`), so consecutive layers pass blocked tensors without reorders;
// weights are always row-major OIHW.

extension Kernels {
  /// 2-D convolution, NCHW input [N, C, H, W], weight [O, C/groups, KH, KW], optional bias [O].
  /// The result may be channel-blocked (see `Tensor.layout`).
  public static func conv2d(_ x: Tensor, weight w: Tensor, bias: Tensor? = nil, geometry g: ConvGeometry) -> Tensor {
    let outShape = g.outputShape(input: x.shape, weight: w.shape)
    if let bias { precondition(bias.shape == [w.shape[0]], "conv2d: bias \(bias.shape) does not match \(w.shape[0]) output channels") }
    let plan = ConvPlan.get(.forward, input: x.shape, weight: w.shape, geometry: g, hasBias: bias != nil)
    var run = ConvRun(plan)
    run.input(dnnlArgSrc, plan.source, x)
    run.input(dnnlArgWeights, plan.weights, w.rowMajor)
    if let bias { run.bias(dnnlArgBias, plan.bias!, bias.rowMajor) }
    let y = run.output(dnnlArgDst, plan.destination, outShape)
    run.execute()
    return y
  }

  /// Gradient of conv2d with respect to its input.
  public static func conv2dBackwardData(_ gy: Tensor, weight w: Tensor, inputShape: Shape, geometry g: ConvGeometry) -> Tensor {
    let outShape = g.outputShape(input: inputShape, weight: w.shape)
    precondition(gy.shape == outShape, "conv2dBackwardData: gradient \(gy.shape) does not match output \(outShape)")
    if usesDirectBackwardData(inputShape: inputShape, weight: w.shape, geometry: g),
       let dx = directBackwardData(gy, weight: w.rowMajor, inputShape: inputShape, geometry: g) {
      return dx
    }
    let plan = ConvPlan.get(.backwardData, input: inputShape, weight: w.shape, geometry: g, hasBias: false)
    var run = ConvRun(plan)
    run.input(dnnlArgDiffDst, plan.destination, gy)
    run.input(dnnlArgWeights, plan.weights, w.rowMajor)
    let dx = run.output(dnnlArgDiffSrc, plan.source, inputShape)
    run.execute()
    return dx
  }

  /// Few input channels, stride 1, no dilation, one group, padding below the kernel size: the
  /// direct C kernel (oneDNN would run im2col + GEMM here, several times slower).
  static func usesDirectBackwardData(inputShape: Shape, weight: Shape, geometry g: ConvGeometry) -> Bool {
    let (kh, kw) = (weight[2], weight[3])
    return inputShape[1] < 8 && g.groups == 1 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
      && (0..<kh).contains(g.padTop) && (0..<kh).contains(g.padBottom) && (0..<kw).contains(g.padLeft)
      && (0..<kw).contains(g.padRight)
  }

  /// nil when the kernel could not allocate its scratch memory (oneDNN then runs instead).
  static func directBackwardData(_ gy: Tensor, weight w: Tensor, inputShape: Shape, geometry g: ConvGeometry) -> Tensor? {
    let dx = Tensor(uninitializedShape: inputShape)
    let status = withExtendedLifetime((gy, w)) {
      ck_conv_bwd_data_direct(gy.storagePointer, Int32(gy.layout.block), w.storagePointer, dx.storagePointer,
                              Int64(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]), Int32(inputShape[3]),
                              Int32(w.shape[0]), Int32(gy.shape[2]), Int32(gy.shape[3]), Int32(w.shape[2]), Int32(w.shape[3]),
                              Int32(g.padTop), Int32(g.padLeft))
    }
    return status == 0 ? dx : nil
  }

  /// Gradients of conv2d with respect to its weight (and bias when `withBias`).
  public static func conv2dBackwardWeights(_ gy: Tensor, input x: Tensor, weightShape: Shape, geometry g: ConvGeometry,
                                           withBias: Bool) -> (weight: Tensor, bias: Tensor?) {
    let outShape = g.outputShape(input: x.shape, weight: weightShape)
    precondition(gy.shape == outShape, "conv2dBackwardWeights: gradient \(gy.shape) does not match output \(outShape)")
    if usesDirectBackwardWeights(input: x.shape, weight: weightShape, geometry: g),
       let result = directBackwardWeights(gy, input: x, weightShape: weightShape, geometry: g, withBias: withBias) {
      return result
    }
    let plan = ConvPlan.get(.backwardWeights, input: x.shape, weight: weightShape, geometry: g, hasBias: withBias)
    var run = ConvRun(plan)
    run.input(dnnlArgSrc, plan.source, x)
    run.input(dnnlArgDiffDst, plan.destination, gy)
    let dw = run.output(dnnlArgDiffWeights, plan.weights, weightShape)
    let db = withBias ? Tensor(uninitializedShape: [weightShape[0]]) : nil
    if let db { run.bias(dnnlArgDiffBias, plan.bias!, db) }
    run.execute()
    return (dw.rowMajor, db)
  }
}

extension Kernels {
  /// 3-wide kernels, output channels a multiple of 8, stride any, no dilation, one group, on an
  /// AVX2 + FMA machine: the register-tiled C kernel.
  static func usesDirectBackwardWeights(input: Shape, weight: Shape, geometry g: ConvGeometry) -> Bool {
    weight[3] == 3 && weight[0] % 8 == 0 && g.groups == 1 && g.dilationH == 1 && g.dilationW == 1
      && [g.padTop, g.padLeft, g.padBottom, g.padRight].allSatisfy { $0 >= 0 } && ck_conv_bwd_weight_k3_available() != 0
  }

  /// nil when the kernel could not allocate its scratch memory (oneDNN then runs instead).
  static func directBackwardWeights(_ gy: Tensor, input x: Tensor, weightShape: Shape, geometry g: ConvGeometry,
                                    withBias: Bool) -> (weight: Tensor, bias: Tensor?)? {
    let dy = convertLayout(gy, to: .channelBlocked(8))
    let dw = Tensor(uninitializedShape: weightShape)
    // x is read in its own layout (row-major or channel-blocked)
    let status = withExtendedLifetime((dy, x)) {
      ck_conv_bwd_weight_k3(x.storagePointer, Int32(x.layout.block), dy.storagePointer, dw.storagePointer,
                            Int64(x.shape[0]), Int32(x.shape[1]), Int32(x.shape[2]), Int32(x.shape[3]),
                            Int32(weightShape[0]), Int32(gy.shape[2]), Int32(gy.shape[3]), Int32(weightShape[2]),
                            Int32(g.strideH), Int32(g.strideW), Int32(g.padTop), Int32(g.padLeft))
    }
    guard status == 0 else { return nil }
    return (dw, withBias ? Tensor(channelSums(dy).map(Float.init)) : nil)
  }
}

/// Binds tensors to one execution of a convolution plan.
struct ConvRun {
  let plan: ConvPlan
  private var args: [dnnl_exec_arg_t] = []
  private var memories: [DNNLMemory] = []
  private var buffers: [DNNLBuffer] = []
  private var keepAlive: [Tensor] = []
  private var inputReorders: [(DNNLReorder, dnnl_memory_desc_t, UnsafeMutableRawPointer, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []
  private var outputReorders: [(DNNLReorder, dnnl_memory_desc_t, UnsafeMutableRawPointer, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []

  init(_ plan: ConvPlan) { self.plan = plan }

  private mutating func bind(_ name: Int32, _ desc: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer) {
    let m = DNNLMemory(desc, pointer)
    memories.append(m)
    args.append(dnnl_exec_arg_t(arg: name, memory: m.handle))
  }

  /// A tensor read by the primitive: converted to the wanted layout, or reordered into scratch.
  mutating func input(_ name: Int32, _ operand: DNNLOperand, _ t: Tensor) {
    if let layout = operand.layout {
      let converted = Kernels.convertLayout(t, to: layout)
      keepAlive.append(converted)
      bind(name, operand.chosen, UnsafeMutableRawPointer(converted.storagePointer))
    } else {
      let plain = t.rowMajor
      keepAlive.append(plain)
      let buf = DNNLBuffer(bytes: operand.chosenBytes)
      buffers.append(buf)
      inputReorders.append((operand.reorderIn!, operand.plain, UnsafeMutableRawPointer(plain.storagePointer), operand.chosen, buf.pointer))
      bind(name, operand.chosen, buf.pointer)
    }
  }

  /// A tensor written by the primitive, in its wanted layout when a tensor can hold it.
  mutating func output(_ name: Int32, _ operand: DNNLOperand, _ shape: Shape) -> Tensor {
    if let layout = operand.layout {
      let t = Tensor(uninitializedShape: shape, layout: layout)
      bind(name, operand.chosen, UnsafeMutableRawPointer(t.storagePointer))
      return t
    }
    let t = Tensor(uninitializedShape: shape)
    let buf = DNNLBuffer(bytes: operand.chosenBytes)
    buffers.append(buf)
    outputReorders.append((operand.reorderOut!, operand.chosen, buf.pointer, operand.plain, UnsafeMutableRawPointer(t.storagePointer)))
    bind(name, operand.chosen, buf.pointer)
    return t
  }

  /// A bias (or bias gradient) in plain layout.
  mutating func bias(_ name: Int32, _ desc: dnnl_memory_desc_t, _ t: Tensor) {
    keepAlive.append(t)
    bind(name, desc, UnsafeMutableRawPointer(t.storagePointer))
  }

  mutating func execute() {
    let scratchBytes = descSize(plan.scratchpad)
    if scratchBytes > 0 {
      let buf = DNNLBuffer(bytes: scratchBytes)
      buffers.append(buf)
      bind(dnnlArgScratchpad, plan.scratchpad, buf.pointer)
    }
    DNNLEngine.shared.run { stream in
      for (r, from, src, to, dst) in inputReorders { runReorder(r, from: from, src, to: to, dst, stream) }
      var a = args
      dnnlCheck(dnnl_primitive_execute(plan.primitive, stream, Int32(a.count), &a), "convolution")
      for (r, from, src, to, dst) in outputReorders { runReorder(r, from: from, src, to: to, dst, stream) }
    }
    memories.forEach { $0.destroy() }
    buffers.forEach { $0.free() }
    withExtendedLifetime(keepAlive) {}
  }
}
