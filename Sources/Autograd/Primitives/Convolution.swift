import TensorCore

extension Tensor {
  /// 2-D convolution of an NCHW input with OIHW weights (groups in the geometry).
  public static func conv2d(_ x: Tensor, weight w: Tensor, bias: Tensor? = nil, geometry g: ConvGeometry) -> Tensor {
    let (xv, wv) = (x.detached, w.detached)
    let y = Kernels.conv2d(x, weight: w, bias: bias, geometry: g)
    let inputs = bias.map { [x, w, $0] } ?? [x, w]
    let needInputGrad = x.isTracked, needWeightGrad = w.isTracked || (bias?.isTracked ?? false)
    return y.recorded(from: inputs) { gy in
      let gx = needInputGrad ? Kernels.conv2dBackwardData(gy, weight: wv, inputShape: xv.shape, geometry: g) : nil
      var gw: Tensor? = nil, gb: Tensor? = nil
      if needWeightGrad {
        (gw, gb) = Kernels.conv2dBackwardWeights(gy, input: xv, weightShape: wv.shape, geometry: g, withBias: bias != nil)
      }
      return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
  }
}
