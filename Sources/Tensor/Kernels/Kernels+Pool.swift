import CKernels

/// Geometry of a 2-D pooling window.
public struct Pool2DGeometry: Hashable, Sendable, Codable {
  public var kernel: (h: Int, w: Int) { (kernelH, kernelW) }
  public var kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW: Int
  public var ceilMode: Bool

  public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
              dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) {
    kernelH = kernel.0; kernelW = kernel.1
    strideH = stride?.0 ?? kernel.0; strideW = stride?.1 ?? kernel.1
    padH = padding.0; padW = padding.1
    dilationH = dilation.0; dilationW = dilation.1
    self.ceilMode = ceilMode
    do { try validate() } catch { preconditionFailure("\(error)") }
  }

  /// Checks the fields (a decoded geometry bypasses the initialiser): kernel, stride and dilation
  /// positive, padding non-negative and at most half the kernel.
  public func validate() throws {
    guard kernelH > 0 && kernelW > 0 && strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0 else {
      throw GeometryError("pooling: kernel \(kernelH)x\(kernelW), stride \(strideH)x\(strideW) and dilation \(dilationH)x\(dilationW) must be positive")
    }
    guard padH >= 0 && padW >= 0 && padH * 2 <= kernelH && padW * 2 <= kernelW else {
      throw GeometryError("pooling: padding \(padH)x\(padW) must be non-negative and at most half the kernel \(kernelH)x\(kernelW)")
    }
  }

  /// Checks that the window fits an input of h × w.
  public func validate(height h: Int, width w: Int) throws {
    try validate()
    let (oh, ow) = outputSize(h, w)
    guard oh > 0 && ow > 0 else {
      throw GeometryError("pooling: window \(kernelH)x\(kernelW) does not fit input \(h)x\(w) with padding \(padH)x\(padW)")
    }
  }

  public func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
    func size(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
      let span = n + 2 * p - d * (k - 1) - 1
      guard span >= 0 else { return 0 }  // the window is larger than the padded input
      var o = (ceilMode ? (span + s - 1) / s : span / s) + 1
      // the last window must start inside the input or its left padding (PyTorch rule)
      if ceilMode && (o - 1) * s >= n + p { o -= 1 }
      return o
    }
    return (size(h, kernelH, strideH, padH, dilationH), size(w, kernelW, strideW, padW, dilationW))
  }
}

extension Kernels {
  static func poolDims(_ x: Tensor, _ g: Pool2DGeometry, _ op: String) -> (nc: Int, h: Int, w: Int, oh: Int, ow: Int) {
    precondition(x.rank == 4, "\(op): expected an NCHW tensor, got shape \(x.shape)")
    let d = x.shape.dims
    let (oh, ow) = g.outputSize(d[2], d[3])
    precondition(oh > 0 && ow > 0, "\(op): window \(g.kernelH)x\(g.kernelW) does not fit input \(x.shape)")
    return (d[0] * d[1], d[2], d[3], oh, ow)
  }

  /// Max pooling; also returns the flat in-plane index of each maximum (for the pullback).
  public static func maxPool2D(_ x: Tensor, _ g: Pool2DGeometry) -> (output: Tensor, argmax: [Int32]) {
    let x = x.rowMajor
    let p = poolDims(x, g, "maxPool2D")
    let out = Tensor(uninitializedShape: [x.shape[0], x.shape[1], p.oh, p.ow])
    var arg = [Int32](repeating: 0, count: out.count)
    arg.withUnsafeMutableBufferPointer {
      ck_maxpool2d(x.pointer, out.pointer, $0.baseAddress, Int64(p.nc), Int32(p.h), Int32(p.w),
                   Int32(g.kernelH), Int32(g.kernelW), Int32(g.strideH), Int32(g.strideW), Int32(g.padH), Int32(g.padW),
                   Int32(g.dilationH), Int32(g.dilationW), Int32(p.oh), Int32(p.ow))
    }
    return (out, arg)
  }

  public static func maxPool2DBackward(_ gy: Tensor, argmax: [Int32], inputShape: Shape) -> Tensor {
    let gy = gy.rowMajor
    let out = Tensor(uninitializedShape: inputShape)
    argmax.withUnsafeBufferPointer {
      ck_maxpool2d_backward(gy.pointer, $0.baseAddress, out.pointer, Int64(inputShape[0] * inputShape[1]),
                            Int64(inputShape[2] * inputShape[3]), Int64(gy.shape[2] * gy.shape[3]))
    }
    return out
  }

  /// Average pooling. countIncludePad counts padded cells in the divisor; divisor overrides it.
  public static func avgPool2D(_ x: Tensor, _ g: Pool2DGeometry, countIncludePad: Bool = true, divisor: Float? = nil) -> Tensor {
    precondition(g.dilationH == 1 && g.dilationW == 1, "avgPool2D: dilation is not supported")
    let x = x.rowMajor
    let p = poolDims(x, g, "avgPool2D")
    let out = Tensor(uninitializedShape: [x.shape[0], x.shape[1], p.oh, p.ow])
    ck_avgpool2d(x.pointer, out.pointer, Int64(p.nc), Int32(p.h), Int32(p.w), Int32(g.kernelH), Int32(g.kernelW),
                 Int32(g.strideH), Int32(g.strideW), Int32(g.padH), Int32(g.padW), Int32(p.oh), Int32(p.ow),
                 countIncludePad ? 1 : 0, divisor ?? 0)
    return out
  }

  public static func avgPool2DBackward(_ gy: Tensor, inputShape: Shape, _ g: Pool2DGeometry,
                                       countIncludePad: Bool = true, divisor: Float? = nil) -> Tensor {
    let gy = gy.rowMajor
    let out = Tensor(uninitializedShape: inputShape)
    ck_avgpool2d_backward(gy.pointer, out.pointer, Int64(inputShape[0] * inputShape[1]), Int32(inputShape[2]),
                          Int32(inputShape[3]), Int32(g.kernelH), Int32(g.kernelW), Int32(g.strideH), Int32(g.strideW),
                          Int32(g.padH), Int32(g.padW), Int32(gy.shape[2]), Int32(gy.shape[3]),
                          countIncludePad ? 1 : 0, divisor ?? 0)
    return out
  }

  /// Mean over H and W of an NCHW tensor: [N, C, 1, 1].
  public static func globalAvgPool2D(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "globalAvgPool2D: expected an NCHW tensor, got shape \(x.shape)")
    return mean(x, axes: [2, 3], keepDims: true)
  }

  /// Softmax (or log-softmax) over the last axis.
  public static func softmax(_ x: Tensor, log: Bool = false) -> Tensor {
    precondition(x.rank >= 1, "softmax: needs rank >= 1")
    let x = x.rowMajor
    let cols = x.shape.dims.last!
    let out = Tensor(uninitializedShape: x.shape)
    ck_softmax(x.pointer, out.pointer, Int64(cols == 0 ? 0 : x.count / cols), Int64(cols), log ? 1 : 0)
    return out
  }
}
