import TensorCore

extension Tensor {
  /// Transposed 2-D convolution (the adjoint of `conv2d`): x [N, Cin, H, W], weight
  /// [Cin, Cout/groups, KH, KW], output [N, Cout, outH, outW] where the geometry's padding is
  /// removed from the full output (ONNX ConvTranspose / PyTorch ConvTranspose2d). The forward is
  /// conv2d's input gradient; the pullbacks are conv2d itself and its weight gradient.
  public static func convTranspose2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, geometry g: ConvGeometry,
                                     outputSize: (h: Int, w: Int)) -> Tensor {
    let outShape = Shape([x.shape[0], w.shape[1] * g.groups, outputSize.h, outputSize.w])
    let (xv, wv) = (x.detached, w.detached)
    let y = Kernels.conv2dBackwardData(x, weight: w, inputShape: outShape, geometry: g).rowMajor
      .recorded(from: [x, w]) { gy in
        let gx = Kernels.conv2d(gy, weight: wv, geometry: g).rowMajor
        let gw = Kernels.conv2dBackwardWeights(xv, input: gy, weightShape: wv.shape, geometry: g, withBias: false).weight
        return [gx, gw]
      }
    guard let bias else { return y }
    return y + bias.reshaped(to: [1, outShape[1], 1, 1])
  }
}
