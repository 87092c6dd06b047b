import Autograd
import CKernels
import TensorCore

/// Adam; with `decoupledWeightDecay` it is AdamW (Loshchilov & Hutter).
public final class Adam: Optimizer {
  public var learningRate: Float
  public let beta1: Float
  public let beta2: Float
  public let epsilon: Float
  public let decoupledWeightDecay: Bool
  public private(set) var groups: [ParameterGroup]
  public private(set) var step = 0
  private var moments: [ObjectIdentifier: (m: Tensor, v: Tensor)] = [:]

  public init(_ groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
              epsilon: Float = 1e-8, decoupledWeightDecay: Bool = false) {
    self.groups = groups
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.decoupledWeightDecay = decoupledWeightDecay
  }

  public convenience init(_ parameters: [Parameter], learningRate: Float = 1e-3, weightDecay: Float = 0) {
    self.init([ParameterGroup(parameters, weightDecay: weightDecay)], learningRate: learningRate)
  }

  /// AdamW with PyTorch's default weight decay of 0.01.
  public static func adamW(_ parameters: [Parameter], learningRate: Float = 1e-3, weightDecay: Float = 0.01) -> Adam {
    Adam([ParameterGroup(parameters, weightDecay: weightDecay)], learningRate: learningRate, decoupledWeightDecay: true)
  }

  public func update(_ gradients: Gradients) {
    step += 1
    for group in groups {
      let lr = learningRate * group.learningRateScale
      for p in group.parameters where p.requiresGradient {
        guard let g = gradients[p] else { continue }
        precondition(g.shape == p.shape, "Adam: gradient \(g.shape) for parameter \(p.shape)")
        let id = ObjectIdentifier(p)
        var (m, v) = moments[id] ?? (Tensor.zeros(p.shape), Tensor.zeros(p.shape))
        g.withUnsafeBufferPointer { gp in
          m.withUnsafeMutableBufferPointer { mp in
            v.withUnsafeMutableBufferPointer { vp in
              p.value.withUnsafeMutableBufferPointer { pp in
                ck_adam_update(pp.baseAddress, gp.baseAddress, mp.baseAddress, vp.baseAddress, Int64(pp.count), lr, beta1,
                               beta2, epsilon, group.weightDecay, decoupledWeightDecay ? 1 : 0, Int64(step))
              }
            }
          }
        }
        moments[id] = (m, v)
      }
    }
  }

  public func state(of parameter: Parameter) -> [(name: String, value: Tensor)] {
    guard let (m, v) = moments[ObjectIdentifier(parameter)] else { return [] }
    return [("exp_avg", m), ("exp_avg_sq", v)]
  }

  public func setState(of parameter: Parameter, _ state: [String: Tensor], step: Int) throws {
    self.step = step
    guard let m = state["exp_avg"], let v = state["exp_avg_sq"] else { moments[ObjectIdentifier(parameter)] = nil; return }
    guard m.shape == parameter.shape && v.shape == parameter.shape else {
      throw OptimizerStateError(description: "Adam moments \(m.shape)/\(v.shape) do not match parameter \(parameter.shape)")
    }
    moments[ObjectIdentifier(parameter)] = (m, v)
  }
}
