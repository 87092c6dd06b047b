import Autograd
import TensorCore

public final class MaxPool2D: GridPreserving {
  public let geometry: Pool2DGeometry
  public init(kernel: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
    geometry = Pool2DGeometry(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                              dilation: (dilation, dilation), ceilMode: ceilMode)
  }
  public init(geometry: Pool2DGeometry) { self.geometry = geometry }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "MaxPool2D").maxPool2D(geometry) }
  public func flops(inputs: [Shape], output: Shape) -> Int { output.count * geometry.kernelH * geometry.kernelW }
}

public final class AvgPool2D: AveragePooling {
  public let geometry: Pool2DGeometry
  public let countIncludePad: Bool
  public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
    geometry = Pool2DGeometry(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                              ceilMode: ceilMode)
    self.countIncludePad = countIncludePad
  }
  public init(geometry: Pool2DGeometry, countIncludePad: Bool = true) {
    self.geometry = geometry
    self.countIncludePad = countIncludePad
  }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    single(inputs, "AvgPool2D").avgPool2D(geometry, countIncludePad: countIncludePad)
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { output.count * geometry.kernelH * geometry.kernelW }
}

/// Mean over H and W: [N, C, H, W] -> [N, C, 1, 1].
public final class GlobalAvgPool: AveragePooling {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "GlobalAvgPool").globalAvgPool2D() }
  public func flops(inputs: [Shape], output: Shape) -> Int { inputs.first?.count ?? 0 }
}
