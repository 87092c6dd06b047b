import Autograd
import CKernels
import TensorCore

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay
/// (PyTorch's update rule).
public final class SGD: Optimizer {
  public var learningRate: Float
  public let momentum: Float
  public let dampening: Float
  public let nesterov: Bool
  public private(set) var groups: [ParameterGroup]
  public private(set) var step = 0
  private var buffers: [ObjectIdentifier: Tensor] = [:]

  public init(_ groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false) {
    precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov needs momentum > 0 and no dampening")
    self.groups = groups
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.nesterov = nesterov
  }

  public convenience init(_ parameters: [Parameter], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0,
                          nesterov: Bool = false) {
    self.init([ParameterGroup(parameters, weightDecay: weightDecay)], learningRate: learningRate, momentum: momentum,
              nesterov: nesterov)
  }

  public func update(_ gradients: Gradients) {
    for group in groups {
      let lr = learningRate * group.learningRateScale
      for p in group.parameters where p.requiresGradient {
        guard let g = gradients[p] else { continue }
        precondition(g.shape == p.shape, "SGD: gradient \(g.shape) for parameter \(p.shape)")
        let id = ObjectIdentifier(p)
        let first = buffers[id] == nil
        var buf = buffers[id] ?? Tensor.zeros(p.shape)
        g.withUnsafeBufferPointer { gp in
          buf.withUnsafeMutableBufferPointer { bp in
            p.value.withUnsafeMutableBufferPointer { pp in
              ck_sgd_update(pp.baseAddress, gp.baseAddress, bp.baseAddress, Int64(pp.count), lr, momentum, dampening,
                            group.weightDecay, nesterov ? 1 : 0, first ? 1 : 0)
            }
          }
        }
        if momentum != 0 { buffers[id] = buf }
      }
    }
    step += 1
  }

  public func state(of parameter: Parameter) -> [(name: String, value: Tensor)] {
    buffers[ObjectIdentifier(parameter)].map { [("momentum_buffer", $0)] } ?? []
  }

  public func setState(of parameter: Parameter, _ state: [String: Tensor], step: Int) throws {
    self.step = step
    guard let b = state["momentum_buffer"] else { buffers[ObjectIdentifier(parameter)] = nil; return }
    guard b.shape == parameter.shape else {
      throw OptimizerStateError(description: "SGD momentum_buffer \(b.shape) does not match parameter \(parameter.shape)")
    }
    buffers[ObjectIdentifier(parameter)] = b
  }
}
