import CDNNL

extension Kernels {
  /// 2-D convolution, NCHW input [N, C, H, W], weight [O, C/groups, KH, KW], optional bias [O].
  public static func conv2d(_ x: Tensor, weight w: Tensor, bias: Tensor? = nil, geometry g: ConvGeometry) -> Tensor {
    let outShape = g.outputShape(input: x.shape, weight: w.shape)
    if let bias { precondition(bias.shape == [w.shape[0]], "conv2d: bias \(bias.shape) does not match \(w.shape[0]) output channels") }
    let plan = ConvPlan.get(.forward, input: x.shape, weight: w.shape, geometry: g, hasBias: bias != nil)
    let y = Tensor(uninitializedShape: outShape)
    execute(plan, source: x.pointer, weights: w.pointer, destination: y.pointer, bias: bias?.pointer,
            biasArg: dnnlArgBias, args: (dnnlArgSrc, dnnlArgWeights, dnnlArgDst))
    return y
  }

  /// Gradient of conv2d with respect to its input.
  public static func conv2dBackwardData(_ gy: Tensor, weight w: Tensor, inputShape: Shape, geometry g: ConvGeometry) -> Tensor {
    let outShape = g.outputShape(input: inputShape, weight: w.shape)
    precondition(gy.shape == outShape, "conv2dBackwardData: gradient \(gy.shape) does not match output \(outShape)")
    let plan = ConvPlan.get(.backwardData, input: inputShape, weight: w.shape, geometry: g, hasBias: false)
    let dx = Tensor(uninitializedShape: inputShape)
    execute(plan, source: dx.pointer, weights: w.pointer, destination: gy.pointer, bias: nil, biasArg: 0,
            args: (dnnlArgDiffSrc, dnnlArgWeights, dnnlArgDiffDst))
    return dx
  }

  /// Gradients of conv2d with respect to its weight (and bias when `withBias`).
  public static func conv2dBackwardWeights(_ gy: Tensor, input x: Tensor, weightShape: Shape, geometry g: ConvGeometry,
                                           withBias: Bool) -> (weight: Tensor, bias: Tensor?) {
    let outShape = g.outputShape(input: x.shape, weight: weightShape)
    precondition(gy.shape == outShape, "conv2dBackwardWeights: gradient \(gy.shape) does not match output \(outShape)")
    let plan = ConvPlan.get(.backwardWeights, input: x.shape, weight: weightShape, geometry: g, hasBias: withBias)
    let dw = Tensor(uninitializedShape: weightShape)
    let db = withBias ? Tensor(uninitializedShape: [weightShape[0]]) : nil
    execute(plan, source: x.pointer, weights: dw.pointer, destination: gy.pointer, bias: db?.pointer,
            biasArg: dnnlArgDiffBias, args: (dnnlArgSrc, dnnlArgDiffWeights, dnnlArgDiffDst))
    return (dw, db)
  }

  /// Runs a plan on plain-layout buffers, reordering operands in and out of the blocked layouts.
  private static func execute(_ plan: ConvPlan, source: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
                              destination: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
                              biasArg: Int32, args names: (Int32, Int32, Int32)) {
    DNNLEngine.shared.run { stream in
      let operands = [(plan.source, UnsafeMutableRawPointer(source), names.0),
                      (plan.weights, UnsafeMutableRawPointer(weights), names.1),
                      (plan.destination, UnsafeMutableRawPointer(destination), names.2)]
      var buffers: [DNNLBuffer] = []
      var memories: [DNNLMemory] = []
      var args: [dnnl_exec_arg_t] = []
      var pending: [(DNNLReorder, dnnl_memory_desc_t, UnsafeMutableRawPointer, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []
      for (operand, plain, name) in operands {
        var pointer = plain
        if operand.needsReorder {
          let buf = DNNLBuffer(bytes: operand.chosenBytes)
          buffers.append(buf)
          pointer = buf.pointer
          if let r = operand.reorderIn { runReorder(r, from: operand.plain, plain, to: operand.chosen, buf.pointer, stream) }
          if let r = operand.reorderOut { pending.append((r, operand.chosen, buf.pointer, operand.plain, plain)) }
        }
        let m = DNNLMemory(operand.chosen, pointer)
        memories.append(m)
        args.append(dnnl_exec_arg_t(arg: name, memory: m.handle))
      }
      if let bias, let desc = plan.bias {
        let m = DNNLMemory(desc, UnsafeMutableRawPointer(bias))
        memories.append(m)
        args.append(dnnl_exec_arg_t(arg: biasArg, memory: m.handle))
      }
      dnnlCheck(dnnl_primitive_execute(plan.primitive, stream, Int32(args.count), &args), "convolution")
      for (r, from, src, to, dst) in pending { runReorder(r, from: from, src, to: to, dst, stream) }
      memories.forEach { $0.destroy() }
      buffers.forEach { $0.free() }
    }
  }
}
