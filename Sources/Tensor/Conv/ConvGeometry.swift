/// Stride, padding, dilation and groups of a 2-D convolution (NCHW input, OIHW weights).
public struct ConvGeometry: Hashable, Sendable, Codable {
  public var strideH = 1, strideW = 1
  public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
  public var dilationH = 1, dilationW = 1
  public var groups = 1

  public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
    self.init(stride: (stride, stride), padding: (padding, padding, padding, padding), dilation: (dilation, dilation), groups: groups)
  }

  /// padding: (top, left, bottom, right)
  public init(stride: (Int, Int), padding: (Int, Int, Int, Int), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
    strideH = stride.0; strideW = stride.1
    padTop = padding.0; padLeft = padding.1; padBottom = padding.2; padRight = padding.3
    dilationH = dilation.0; dilationW = dilation.1
    self.groups = groups
    do { try validate() } catch { preconditionFailure("\(error)") }
  }

  /// Checks the fields (a decoded geometry bypasses the initialiser): strides, dilations and
  /// groups positive, padding non-negative.
  public func validate() throws {
    guard strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0 && groups > 0 else {
      throw GeometryError("convolution: stride \(strideH)x\(strideW), dilation \(dilationH)x\(dilationW) and groups \(groups) must be positive")
    }
    guard [padTop, padLeft, padBottom, padRight].allSatisfy({ $0 >= 0 }) else {
      throw GeometryError("convolution: padding (top, left, bottom, right) \((padTop, padLeft, padBottom, padRight)) must not be negative")
    }
  }

  /// Checks that an input of `channels` × h × w fits a weight [out, channels / groups, kh, kw]
  /// (channels and outputs divisible by the groups, the dilated kernel inside the padded input).
  public func validate(channels c: Int, height h: Int, width w: Int, outChannels o: Int, kernelH kh: Int, kernelW kw: Int) throws {
    try validate()
    guard kh > 0 && kw > 0 else { throw GeometryError("convolution: kernel \(kh)x\(kw) must be positive") }
    guard c % groups == 0 && o % groups == 0 else {
      throw GeometryError("convolution: \(c) input and \(o) output channels are not divisible by \(groups) groups")
    }
    let (oh, ow) = outputSize(inputH: h, inputW: w, kernelH: kh, kernelW: kw)
    guard oh > 0 && ow > 0 else {
      throw GeometryError("convolution: kernel \(kh)x\(kw) (dilation \(dilationH)x\(dilationW)) does not fit input \(h)x\(w) with padding \((padTop, padLeft, padBottom, padRight))")
    }
  }

  /// Output height and width for an input of h×w and a kh×kw kernel (0 when the kernel does not fit).
  public func outputSize(inputH h: Int, inputW w: Int, kernelH kh: Int, kernelW kw: Int) -> (Int, Int) {
    let oh = (h + padTop + padBottom - dilationH * (kh - 1) - 1)
    let ow = (w + padLeft + padRight - dilationW * (kw - 1) - 1)
    return (oh < 0 ? 0 : oh / strideH + 1, ow < 0 ? 0 : ow / strideW + 1)
  }

  /// Output shape for input [N, C, H, W] and weight [O, C/groups, KH, KW]; traps with both shapes
  /// on a mismatch.
  public func outputShape(input: Shape, weight: Shape) -> Shape {
    precondition(input.rank == 4 && weight.rank == 4, "conv2d: expected input [N,C,H,W] and weight [O,C/g,KH,KW], got \(input) and \(weight)")
    let (n, c, h, w) = (input[0], input[1], input[2], input[3])
    let (o, ci, kh, kw) = (weight[0], weight[1], weight[2], weight[3])
    precondition(c % groups == 0 && o % groups == 0 && ci * groups == c,
                 "conv2d: input \(input) with \(groups) group(s) needs weight [O, \(c / max(groups, 1)), KH, KW] and O divisible by groups; got weight \(weight)")
    let (oh, ow) = outputSize(inputH: h, inputW: w, kernelH: kh, kernelW: kw)
    precondition(oh > 0 && ow > 0, "conv2d: kernel \(kh)x\(kw) does not fit input \(input) with this padding/dilation")
    return [n, o, oh, ow]
  }
}

/// A convolution or pooling geometry that cannot work (from a file or another tool's model).
public struct GeometryError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
