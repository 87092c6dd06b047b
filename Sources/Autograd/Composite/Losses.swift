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

  /// Knowledge-distillation loss (Hinton et al.): T² · mean over the batch of the cross-entropy
  /// between the teacher's softened distribution softmax(teacher / T) and softmax(self / T).
  /// `teacherLogits` is a constant (no gradient flows into the teacher); T² keeps the gradient
  /// scale independent of the temperature. It differs from KL(teacher ‖ student) by the
  /// teacher's entropy, a constant, so the gradients are the same.
  public func distillationLoss(teacherLogits: Tensor, temperature: Float = 1) -> Tensor {
    precondition(rank == 2 && shape == teacherLogits.shape,
                 "distillationLoss: student logits \(shape) and teacher logits \(teacherLogits.shape) differ")
    precondition(temperature > 0, "distillationLoss: temperature must be positive, got \(temperature)")
    let inverse = 1 / temperature
    let target = Kernels.softmax(Kernels.scaleShift(teacherLogits.detached, scale: inverse, shift: 0))
    let scaled = temperature == 1 ? self : self * inverse
    return -(scaled.logSoftmax() * target).sum() * (temperature * temperature / Float(shape[0]))
  }

  /// Mean squared error.
  public func meanSquaredError(_ target: Tensor) -> Tensor {
    precondition(shape == target.shape, "meanSquaredError: prediction \(shape) and target \(target.shape) differ")
    return (self - target).squared().mean()
  }
}
