import Autograd
import TensorCore

/// Parameters that share optimizer settings (e.g. quantizer step sizes get their own learning rate).
public struct ParameterGroup {
  public var parameters: [Parameter]
  /// Multiplies the optimizer's (scheduled) learning rate for this group.
  public var learningRateScale: Float
  public var weightDecay: Float

  public init(_ parameters: [Parameter], learningRateScale: Float = 1, weightDecay: Float = 0) {
    self.parameters = parameters
    self.learningRateScale = learningRateScale
    self.weightDecay = weightDecay
  }
}

/// Updates parameters from gradients. State (momentum, moments) is kept per parameter.
public protocol Optimizer: AnyObject {
  var learningRate: Float { get set }
  var groups: [ParameterGroup] { get }
  /// Number of completed steps.
  var step: Int { get }
  func update(_ gradients: Gradients)
  /// Per-parameter state tensors by name ("momentum_buffer", "exp_avg", ...), for checkpoints.
  func state(of parameter: Parameter) -> [(name: String, value: Tensor)]
  func setState(of parameter: Parameter, _ state: [String: Tensor], step: Int) throws
}

/// Thrown when restored optimizer state does not fit the parameters.
public struct OptimizerStateError: Error, CustomStringConvertible {
  public var description: String
}
