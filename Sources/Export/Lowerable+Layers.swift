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

extension Linear: LowerableWeightBearing {
  public func lowerAttributes(_ context: LoweringContext) -> DeployNode { context.node(.linear) }
}

extension Add: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: true) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard context.inputs.count == 2 else {
      throw context.unsupported("Add of \(context.inputs.count) inputs; the deploy format adds two (split it into a chain of two-input adds)")
    }
    return context.node(.add)
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

/// LeakyReLU at the DPU's slope (simulate_dpu sets it) on a quantized tensor.
extension LeakyReLU: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard fusedActivation == .leakyRelu else {
      throw context.unsupported("LeakyReLU with slope \(negativeSlope) has no integer implementation in the deploy format (the DPU's is 26/256: enable simulate_dpu)")
    }
    var d = context.node(.leakyRelu)
    d.activation = .leakyRelu
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

extension Pad: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard value == 0, before.first == 0, after.first == 0 else {
      throw context.unsupported("only zero padding of non-batch axes is supported")
    }
    var d = context.node(.pad)
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
    guard let scale else { throw context.unsupported("upsampling H by \(scaleH) and W by \(scaleW): the deploy format scales both alike") }
    var d = context.node(.upsample)
    d.scale = scale
    return d
  }
}

extension Identity: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { nil }
}

extension Dropout: Lowerable {
  public func lower(_ context: inout LoweringContext) throws -> DeployNode? { nil }
}
