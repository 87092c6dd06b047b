import DeployFormat
import Layers
import QAT
import TensorCore

/// How a lowered node's output tensor is formed.
public enum LoweredOutput: Sendable {
  /// The tensor of the node's output quantizer (the FixNeuron reading it); with `fusingActivation`,
  /// an activation between them (a residual sum's ReLU) is folded into the node.
  case quantized(fusingActivation: Bool)
  /// The output stays on the input's grid: a tensor named after the node, with the input's format
  /// (or the input tensor itself when the layer lowers to no node).
  case inputGrid
}

/// A layer the exporter can turn into a deploy node. The simulator switches exhaustively over the
/// deploy ops, so a layer with a new op also adds that op and its simulator case.
public protocol Lowerable: Layer {
  var loweredOutput: LoweredOutput { get }
  /// The deploy node for this layer: `context.node(op)` comes with name, inputs and output
  /// filled; the layer sets its attributes (and adds integer weights to the payload). nil: no
  /// node, the output is the input tensor (identity, dropout in inference). Throws naming what the
  /// deploy format cannot express.
  func lower(_ context: inout LoweringContext) throws -> DeployNode?
  /// Why this node cannot be lowered, as far as its per-sample input shapes tell before
  /// calibration (nil: no known reason; `lower` still checks the formats).
  func exportProblem(inputShapes: [[Int]]) -> String?
}

extension Lowerable {
  public func exportProblem(inputShapes: [[Int]]) -> String? { nil }
}

/// Layers that keep their input's grid lower to a node with the input's format (or to none).
extension Lowerable where Self: GridPreserving {
  public var loweredOutput: LoweredOutput { .inputGrid }
}

/// What a layer sees while it is lowered.
public struct LoweringContext {
  /// The model node's name.
  public let name: String
  /// Deploy tensors read and written, and the per-sample shapes of the inputs.
  public let inputs: [String]
  public let outputTensor: String
  public let inputShapes: [[Int]]
  /// The formats of the input tensors.
  public let inputFormats: [FixedPointFormat]
  /// The output tensor's format and rounding (nodes with a quantized output).
  public let output: (format: FixedPointFormat, rounding: RoundingRule)?
  /// The integer weights written so far.
  public internal(set) var payload: DeployPayload

  /// A node of this op with name, inputs and output filled in.
  public func node(_ op: DeployOp) -> DeployNode { DeployNode(name: name, op: op, inputs: inputs, output: outputTensor) }

  /// Adds an integer tensor to the payload under `name`.
  public mutating func add(_ name: String, _ t: IntTensor) {
    payload[name] = DeployPayload.Entry(shape: t.shape.dims, values: t.codes.map(Int32.init), bits: t.format.bits)
  }

  /// The quantized output's format, or an error naming the node.
  public func outputFormat() throws -> (format: FixedPointFormat, rounding: RoundingRule) {
    guard let output else { throw unsupported("its output is not quantized") }
    return output
  }

  /// An error naming this node.
  public func unsupported(_ what: String) -> DeployError { DeployError("node \(name): \(what)") }
}

/// A weight-bearing layer with a deploy op: its op and attributes (geometry, kernel).
public protocol LowerableWeightBearing: WeightBearing {
  func lowerAttributes(_ context: LoweringContext) -> DeployNode
  /// Why this layer on an input of this per-sample shape has no deploy form (nil: it has).
  func exportProblem(inputShape: [Int]) -> String?
}

extension LowerableWeightBearing {
  public func exportProblem(inputShape: [Int]) -> String? { nil }
}
