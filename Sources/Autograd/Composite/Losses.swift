import TensorCore

extension Tensor {
  /// Mean softmax cross-entropy of logits [N, classes] against integer labels, with optional
  /// label smoothing ε: the target puts 1 − ε on the label and ε / classes on every class.
  public func softmaxCrossEntropy(labels: [Int], labelSmoothing: Float = 0) -> Tensor {
    precondition(rank == 2 && shape[0] == labels.count,
                 "softmaxCrossEntropy: logits \(shape) do not match \(labels.count) labels")
    precondition(labelSmoothing >= 0 && labelSmoothing < 1, "softmaxCrossEntropy: label smoothing must be in [0, 1)")
    let classes = shape[1]
    var target = Tensor.oneHot(labels, classes: classes)
    if labelSmoothing > 0 {
      target = Kernels.scaleShift(target, scale: 1 - labelSmoothing, shift: labelSmoothing / Float(classes))
    }
    return -(logSoftmax() * target).sum() * (1 / Float(labels.count))
  }

  /// Mean squared error.
  public func meanSquaredError(_ target: Tensor) -> Tensor {
    precondition(shape == target.shape, "meanSquaredError: prediction \(shape) and target \(target.shape) differ")
    return (self - target).squared().mean()
  }
}
