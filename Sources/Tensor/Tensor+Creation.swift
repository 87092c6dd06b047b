import CKernels

extension Tensor {
  public static func zeros(_ shape: Shape) -> Tensor { full(shape, 0) }
  public static func ones(_ shape: Shape) -> Tensor { full(shape, 1) }

  public static func full(_ shape: Shape, _ value: Float) -> Tensor {
    let t = Tensor(uninitializedShape: shape)
    ck_fill(t.pointer, Int64(shape.count), value)
    return t
  }

  public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }
  public static func ones(like t: Tensor) -> Tensor { ones(t.shape) }

  /// start, start + step, ... (excluding end).
  public static func arange(_ start: Float = 0, to end: Float, step: Float = 1) -> Tensor {
    precondition(step != 0, "arange: step must not be 0")
    let n = max(0, Int(((end - start) / step).rounded(.up)))
    return Tensor(shape: [n]) { buf in
      for i in 0..<n { buf[i] = start + Float(i) * step }
    }
  }

  /// Uniform samples in [low, high).
  public static func uniform(_ shape: Shape, low: Float = 0, high: Float = 1, using rng: inout RandomGenerator) -> Tensor {
    Tensor(shape: shape) { buf in
      for i in 0..<buf.count { buf[i] = low + (high - low) * rng.nextFloat() }
    }
  }

  /// Normal samples with the given mean and standard deviation.
  public static func normal(_ shape: Shape, mean: Float = 0, std: Float = 1, using rng: inout RandomGenerator) -> Tensor {
    Tensor(shape: shape) { buf in
      for i in 0..<buf.count { buf[i] = mean + std * rng.nextNormal() }
    }
  }

  /// A random permutation of 0..<n as Float values.
  public static func permutation(_ n: Int, using rng: inout RandomGenerator) -> Tensor {
    Tensor(rng.permutation(n).map(Float.init))
  }

  /// One-hot rows: [labels.count, classes].
  public static func oneHot(_ labels: [Int], classes: Int) -> Tensor {
    Tensor(shape: [labels.count, classes]) { buf in
      for i in 0..<buf.count { buf[i] = 0 }
      for (row, label) in labels.enumerated() {
        precondition(label >= 0 && label < classes, "oneHot: label \(label) outside 0..<\(classes)")
        buf[row * classes + label] = 1
      }
    }
  }
}
