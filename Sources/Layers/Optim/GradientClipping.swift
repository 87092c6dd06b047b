import Autograd
import TensorCore

/// Scales all gradients so their global L2 norm is at most maxNorm (PyTorch's clip_grad_norm_).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout Gradients, maxNorm: Float) -> Float {
  precondition(maxNorm > 0, "clipGradientNorm: maxNorm must be positive")
  var total: Double = 0
  for g in gradients.values.values { g.withUnsafeBufferPointer { for v in $0 { total += Double(v) * Double(v) } } }
  let norm = Float(total.squareRoot())
  let scale = maxNorm / (norm + 1e-6)
  if scale < 1 {
    for (key, g) in gradients.values { gradients[key] = Kernels.scaleShift(g, scale: scale, shift: 0) }
  }
  return norm
}
