import Autograd
import TensorCore

/// Flattens all axes from `startAxis` on (PyTorch's Flatten, default start 1).
public final class Flatten: GridPreserving {
  public let startAxis: Int
  public init(startAxis: Int = 1) { self.startAxis = startAxis }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Flatten").flattened(from: startAxis) }
}

public final class Identity: GridPreserving {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Identity") }
}

/// Reshapes each sample (the batch axis is kept): per-sample dims, one may be -1.
public final class Reshape: GridPreserving {
  public let shape: [Int]
  public init(_ shape: [Int]) { self.shape = shape }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "Reshape")
    return x.reshaped(to: [x.shape[0]] + shape)
  }
}

/// Strided slice on every axis (missing trailing axes whole), e.g. x[:, :, ::2, ::2].
public final class Slice: GridPreserving {
  public let ranges: [SliceRange]
  public init(_ ranges: [SliceRange]) { self.ranges = ranges }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Slice").sliced(ranges) }
}

/// Constant padding of each axis: before[i] / after[i] elements.
public final class Pad: GridPreserving {
  /// Zero padding keeps the grid; a non-zero value needs a quantizer after the pad.
  public var preservesGrid: Bool { value == 0 }
  public var preservesSign: Bool { value >= 0 }
  public let before: [Int]
  public let after: [Int]
  public let value: Float
  public init(before: [Int], after: [Int], value: Float = 0) {
    precondition(before.count == after.count, "Pad: \(before.count) before / \(after.count) after amounts")
    self.before = before
    self.after = after
    self.value = value
  }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    single(inputs, "Pad").padded(before: before, after: after, value: value)
  }
}

/// Nearest-neighbour upsampling of H and W by integer factors: out[y, x] = in[y / sh, x / sw].
public final class Upsample: GridPreserving {
  public let scaleH: Int
  public let scaleW: Int
  public convenience init(scale: Int) { self.init(scaleH: scale, scaleW: scale) }
  public init(scaleH: Int, scaleW: Int) {
    precondition(scaleH >= 1 && scaleW >= 1, "Upsample: scales must be >= 1")
    (self.scaleH, self.scaleW) = (scaleH, scaleW)
  }
  /// The common factor when H and W scale alike.
  public var scale: Int? { scaleH == scaleW ? scaleH : nil }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "Upsample")
    precondition(x.rank == 4, "Upsample: expected NCHW, got \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return x.reshaped(to: [n, c, h, 1, w, 1]).expanded(to: [n, c, h, scaleH, w, scaleW]).reshaped(to: [n, c, h * scaleH, w * scaleW])
  }
}
