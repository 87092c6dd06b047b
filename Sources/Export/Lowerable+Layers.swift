import DeployFormat
import Layers
import QAT
import TensorCore

// The deploy form of each layer the exporter knows (one conformance per layer).

extension Conv2D: LowerableWeightBearing {
  public func lowerAttributes(_ context: LoweringContext) -> DeployNode {
    var d = context.node(.conv2d)
    d.conv = geometry
    d.kernel = [kernelSize.h, kernelSize.w]
    return d
  }
}

extension ConvTranspose2D: LowerableWeightBearing {
  public func lowerAttributes(_ context: LoweringContext) -> DeployNode {
    var d = context.node(.convTranspose)
    d.conv = geometry
    d.kernel = [kernelSize.h, kernelSize.w]
    d.outputPadding = [outputPadding.h, outputPadding.w]
    return d
  }
}

extension Linear: LowerableWeightBearing {
  public func lowerAttributes(_ context: LoweringContext) -> DeployNode { context.node(.linear) }
  public func exportProblem(inputShape: [Int]) -> String? {
    inputShape.count <= 1 ? nil
      : "fully connected over the last axis of a per-sample \(inputShape) tensor; the deploy format's linear takes a vector of features"
  }
}

extension Add: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: true) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard context.inputs.count == 2 else {
      throw context.unsupported("Add of \(context.inputs.count) inputs; the deploy format adds two (split it into a chain of two-input adds)")
    }
    return try ElementwiseShifts.node(.add, &context)
  }
  public func exportProblem(inputShapes: [[Int]]) -> String? {
    inputShapes.count == 2 ? nil : "Add of \(inputShapes.count) inputs; the deploy format adds two (split it into a chain of two-input adds)"
  }
}

extension Concat: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(.concat)
    d.axis = axis > 0 ? axis - 1 : axis  // per-sample axes
    return d
  }
}

/// ReLU6 on a quantized tensor, with its own quantizer.
extension ReLU6: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(.relu6)
    d.activation = .relu6
    return d
  }
}

extension ReLU: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { context.node(.relu) }
}

extension MaxPool2D: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(.maxPool)
    d.pool = geometry
    return d
  }
}

extension Slice: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard ranges.first.map({ $0 == .all || ($0.start == 0 && $0.step == 1) }) ?? true else {
      throw context.unsupported("slicing the batch axis is not supported")
    }
    let inShape = context.inputShapes[0]
    var d = context.node(.slice)
    d.slice = ranges.dropFirst().enumerated().map { k, r in
      let (start, count) = r.resolved(length: inShape[k])
      return DeploySlice(start: start, end: start + count * r.step, step: r.step)
    }
    return d
  }
}

/// Zero padding keeps the input's grid; another value has its own output quantizer: the input is
/// requantized onto it and padded with the value's code there (what the fake-quant model rounds).
extension Pad: Lowerable {
  public var loweredOutput: LoweredOutput { preservesGrid ? .inputGrid : .quantized(fusingActivation: false) }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard before.first == 0, after.first == 0 else { throw context.unsupported("padding the batch axis is not supported") }
    var d = context.node(.pad)
    if !preservesGrid {
      let (f, rounding) = try context.outputFormat()
      d.padValue = Int(IntegerKernels.quantize(Tensor([value], shape: [1]), format: f, rounding: rounding).codes[0])
    }
    (d.padBefore, d.padAfter) = (Array(before.dropFirst()), Array(after.dropFirst()))
    return d
  }
}

extension Flatten: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard startAxis == 1 else { throw context.unsupported("only flatten from axis 1 is supported") }
    return context.node(.flatten)
  }
}

extension Reshape: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(.reshape)
    d.shape = shape
    return d
  }
}

extension Upsample: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    if let problem = exportProblem(inputShapes: context.inputShapes) { throw context.unsupported(problem) }
    guard let scale else { throw context.unsupported("upsampling without a scale") }
    var d = context.node(.upsample)
    d.scale = scale
    return d
  }
  public func exportProblem(inputShapes: [[Int]]) -> String? {
    scale == nil ? "upsampling H by \(scaleH) and W by \(scaleW): the deploy format scales both alike" : nil
  }
}

extension Identity: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { nil }
}

extension Dropout: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { nil }
}
