import Autograd
import TensorCore

/// A handle on a node while a model is being built.
public struct NodeRef: Hashable, Sendable {
  public let index: Int
}

/// Builds a `Model` node by node. Layers created through the builder draw their initial values
/// from its seeded generator, in the order they are added.
///
/// ```swift
/// var b = ModelBuilder(seed: 1)
/// var x = b.input(shape: [3, 32, 32])
/// x = b.conv2d("conv1", x, 3, 16, kernel: 3, padding: 1, bias: false)
/// x = b.add("bn1", BatchNorm2D(16), x)
/// x = b.add("relu1", ReLU(), x)
/// x = b.add("flatten", Flatten(), b.add("pool", GlobalAvgPool(), x))
/// let model = b.build(output: b.linear("fc", x, 16, 10))
/// ```
public struct ModelBuilder {
  public var rng: RandomGenerator
  private var nodes: [Model.Node] = []
  private var inputs: [Int] = []

  public init(seed: UInt64) { rng = RandomGenerator(seed: seed) }

  /// A model input with the given per-sample shape (e.g. [3, 32, 32]).
  public mutating func input(_ name: String = "input", shape: Shape) -> NodeRef {
    inputs.append(nodes.count)
    return add(name, Input(shape: shape), [])
  }

  @discardableResult
  public mutating func add(_ name: String, _ layer: any Layer, _ inputs: [NodeRef]) -> NodeRef {
    precondition(!nodes.contains { $0.name == name }, "ModelBuilder: duplicate node name \(name)")
    nodes.append(Model.Node(name: name, layer: layer, inputs: inputs.map(\.index)))
    return NodeRef(index: nodes.count - 1)
  }

  @discardableResult
  public mutating func add(_ name: String, _ layer: any Layer, _ input: NodeRef) -> NodeRef { add(name, layer, [input]) }

  public func build(outputs: [NodeRef]) -> Model { Model(nodes: nodes, inputs: inputs, outputs: outputs.map(\.index)) }
  public func build(output: NodeRef) -> Model { build(outputs: [output]) }

  // Convenience for layers with random initial values.
  public mutating func conv2d(_ name: String, _ x: NodeRef, _ inChannels: Int, _ outChannels: Int, kernel: Int,
                              stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1,
                              bias: Bool = true) -> NodeRef {
    let layer = Conv2D(inChannels, outChannels, kernel: (kernel, kernel),
                       geometry: ConvGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups),
                       bias: bias, rng: &rng)
    return add(name, layer, x)
  }

  public mutating func linear(_ name: String, _ x: NodeRef, _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) -> NodeRef {
    add(name, Linear(inFeatures, outFeatures, bias: bias, rng: &rng), x)
  }
}

/// Shorthand for a chain of layers: input -> layers[0] -> layers[1] -> ... (names given).
extension Model {
  public static func sequential(inputShape: Shape, _ layers: [(String, any Layer)]) -> Model {
    var b = ModelBuilder(seed: 0)
    var x = b.input(shape: inputShape)
    for (name, layer) in layers { x = b.add(name, layer, x) }
    return b.build(output: x)
  }
}
