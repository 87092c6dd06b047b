import CKernels

/// Memory order of a tensor's elements.
public enum TensorLayout: Hashable, Sendable, CustomStringConvertible {
  /// Contiguous row-major (NCHW for images).
  case rowMajor
  /// oneDNN's nChw{b}c: [N, C/b, H, W, b] for a logical [N, C, H, W] tensor (C divisible by b).
  case channelBlocked(Int)

  public var description: String {
    switch self {
    case .rowMajor: "row-major"
    case .channelBlocked(let b): "nChw\(b)c"
    }
  }

  /// Channel block size (1 for row-major).
  public var block: Int {
    switch self {
    case .rowMajor: 1
    case .channelBlocked(let b): b
    }
  }

  func validate(for shape: Shape) {
    if case .channelBlocked(let b) = self {
      precondition(shape.rank == 4 && b > 1 && shape[1] % b == 0, "layout \(self) needs [N, C, H, W] with C divisible by \(b), got \(shape)")
    }
  }
}

extension Kernels {
  /// The same values in another layout (a copy; the tensor itself when the layout matches).
  public static func convertLayout(_ x: Tensor, to layout: TensorLayout) -> Tensor {
    if x.layout == layout { return x }
    if x.layout != .rowMajor && layout != .rowMajor { return convertLayout(convertLayout(x, to: .rowMajor), to: layout) }
    let blocked = layout == .rowMajor ? x.layout : layout
    let out = Tensor(uninitializedShape: x.shape, layout: layout)
    let d = x.shape.dims
    ck_convert_layout(x.storagePointer, out.storagePointer, Int64(d[0]), Int64(d[1]), Int64(d[2] * d[3]),
                      Int64(blocked.block), layout == .rowMajor ? 0 : 1)
    return out
  }

  /// Common layout for an elementwise operation on equally shaped operands: their shared layout,
  /// or row-major when they differ.
  static func sharedLayout(_ xs: [Tensor]) -> TensorLayout {
    let first = xs[0].layout
    return xs.allSatisfy { $0.layout == first } ? first : .rowMajor
  }
}
