import Autograd
import TensorCore

/// Transposed 2-D convolution (PyTorch's ConvTranspose2d, ONNX ConvTranspose): weight
/// [in, out/groups, kh, kw], optional bias [out]. The geometry's padding is what is cut from the
/// full output; `outputPadding` adds rows / columns at the bottom / right.
public final class ConvTranspose2D: WeightBearing {
  public let inChannels: Int
  public let outChannels: Int
  public let kernelSize: (h: Int, w: Int)
  public let geometry: ConvGeometry
  public let outputPadding: (h: Int, w: Int)
  public let weight: Parameter
  public let bias: Parameter?

  public init(weight: Tensor, bias: Tensor?, geometry: ConvGeometry, outputPadding: (h: Int, w: Int) = (0, 0)) {
    precondition(weight.rank == 4, "ConvTranspose2D: weight must be [in, out/groups, kh, kw], got \(weight.shape)")
    inChannels = weight.shape[0]
    outChannels = weight.shape[1] * geometry.groups
    kernelSize = (weight.shape[2], weight.shape[3])
    self.geometry = geometry
    self.outputPadding = outputPadding
    self.weight = Parameter(weight)
    self.bias = bias.map { Parameter($0) }
  }

  /// Output height and width for an input of h × w.
  public func outputSize(height h: Int, width w: Int) -> (h: Int, w: Int) {
    let g = geometry
    return ((h - 1) * g.strideH - g.padTop - g.padBottom + g.dilationH * (kernelSize.h - 1) + outputPadding.h + 1,
            (w - 1) * g.strideW - g.padLeft - g.padRight + g.dilationW * (kernelSize.w - 1) + outputPadding.w + 1)
  }

  public var inputChannels: Int { inChannels }
  public var outputChannels: Int { outChannels }
  /// Output channels lie on weight axis 1 (exactly, with one group).
  public var outputChannelAxis: Int { 1 }
  public var groups: Int { geometry.groups }
  /// Multiply-adds per output value, at most (taps that fall between strided inputs add nothing).
  public var reductionLength: Int { inChannels / geometry.groups * kernelSize.h * kernelSize.w }

  public func apply(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(x.rank == 4 && x.shape[1] == inChannels, "ConvTranspose2D: input \(x.shape) needs [N, \(inChannels), H, W]")
    return Tensor.convTranspose2d(x, weight: weight, bias: bias, geometry: geometry, outputSize: outputSize(height: x.shape[2], width: x.shape[3]))
  }

  public func with(weight: Tensor, bias: Tensor?) -> any WeightBearing {
    ConvTranspose2D(weight: weight, bias: bias, geometry: geometry, outputPadding: outputPadding)
  }

  public func forward(_ inputs: [Tensor]) -> Tensor { apply(single(inputs, "ConvTranspose2D"), weight: weight.tensor, bias: bias?.tensor) }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int {
    2 * (inputs.first?.count ?? 0) * (outChannels / geometry.groups) * kernelSize.h * kernelSize.w + (bias == nil ? 0 : output.count)
  }
}
