import Autograd
import TensorCore

/// A network as data: named nodes in topological order, each a layer applied to earlier nodes'
/// outputs. Training, calibration, folding, export and the bit-exact checks all walk this one graph.
public final class Model: @unchecked Sendable {
  public struct Node {
    /// PyTorch-style module path ("layer1.0.conv1"); parameters are named "<name>.<param>".
    public var name: String
    public var layer: any Layer
    /// Indices of the nodes whose outputs feed this one.
    public var inputs: [Int]
    /// Full names of the layer's parameters and buffers where they differ from
    /// "<name>.<local name>" (an imported graph keeps its initializers' names).
    public var tensorNames: [String: String] = [:]

    public init(name: String, layer: any Layer, inputs: [Int], tensorNames: [String: String] = [:]) {
      (self.name, self.layer, self.inputs, self.tensorNames) = (name, layer, inputs, tensorNames)
    }

    /// The full name of a parameter or buffer of this node's layer.
    public func fullName(of local: String) -> String { tensorNames[local] ?? name + "." + local }
  }

  public private(set) var nodes: [Node]
  public private(set) var inputNodes: [Int]
  public private(set) var outputNodes: [Int]
  /// For each node, the last node that reads its output (for freeing intermediates early).
  private var lastUse: [Int]

  public init(nodes: [Node], inputs: [Int], outputs: [Int]) {
    var seen = Set<String>()
    for (i, n) in nodes.enumerated() {
      precondition(seen.insert(n.name).inserted, "Model: duplicate node name \(n.name)")
      precondition(n.inputs.allSatisfy { $0 >= 0 && $0 < i }, "Model: node \(n.name) reads a later node")
    }
    precondition(inputs.allSatisfy { nodes[$0].layer is Input }, "Model: inputs must be Input nodes")
    self.nodes = nodes
    self.inputNodes = inputs
    self.outputNodes = outputs
    self.lastUse = Model.lastUses(nodes, outputs)
  }

  static func lastUses(_ nodes: [Node], _ outputs: [Int]) -> [Int] {
    var last = Array(0..<nodes.count)
    for (i, n) in nodes.enumerated() { for j in n.inputs { last[j] = max(last[j], i) } }
    for o in outputs { last[o] = Int.max }
    return last
  }

  public func index(of name: String) -> Int? { nodes.firstIndex { $0.name == name } }
  public subscript(_ name: String) -> (any Layer)? { index(of: name).map { nodes[$0].layer } }

  /// Nodes that read the output of node i.
  public func consumers(of i: Int) -> [Int] { nodes.indices.filter { nodes[$0].inputs.contains(i) } }

  /// Runs the graph. `observe` sees every node's output as it is produced.
  public func forward(_ inputs: [Tensor], observe: ((Int, Tensor) -> Void)? = nil) -> [Tensor] {
    precondition(inputs.count == inputNodes.count, "Model: \(inputs.count) inputs for \(inputNodes.count) input nodes")
    var values = [Tensor?](repeating: nil, count: nodes.count)
    for (k, i) in inputNodes.enumerated() { values[i] = inputs[k] }
    var fusedInto = -1  // a ReLU whose output the node before it already produced
    for (i, node) in nodes.enumerated() {
      if i == fusedInto { continue }
      if node.layer is Input {
        if let v = values[i] { observe?(i, v) }
        continue
      }
      let args = node.inputs.map { values[$0]! }
      if observe == nil, let bn = node.layer as? BatchNorm2D, bn.phase == .training, reluFusesInto(i) {
        values[i + 1] = bn.forward(args, fusingReLU: true)
        fusedInto = i + 1
      } else if observe == nil, node.layer is Add, args.count == 2, args[0].shape == args[1].shape, reluFusesInto(i) {
        values[i + 1] = Tensor.addReLU(args[0], args[1])
        fusedInto = i + 1
      } else {
        let y = node.layer.forward(args)
        values[i] = y
        observe?(i, y)
      }
      for j in node.inputs where lastUse[j] == i { values[j] = nil }
    }
    return outputNodes.map { values[$0]! }
  }

  /// Node i + 1 is a ReLU and the only reader of node i's output (which is not a model output).
  private func reluFusesInto(_ i: Int) -> Bool {
    i + 1 < nodes.count && nodes[i + 1].layer is ReLU && nodes[i + 1].inputs == [i] && lastUse[i] == i + 1
  }

  /// Forward for single-input, single-output models.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(outputNodes.count == 1, "Model has \(outputNodes.count) outputs; use forward(_:)")
    return forward([x])[0]
  }

  /// The per-sample shape of input k (nil when the model has no input k).
  public func inputShape(_ k: Int = 0) -> Shape? {
    guard inputNodes.indices.contains(k) else { return nil }
    return (nodes[inputNodes[k]].layer as? Input)?.shape
  }

  /// Checks a batch against the input node's per-sample shape (user data: throws).
  public func validate(input x: Tensor, index k: Int = 0) throws {
    guard let input = nodes[inputNodes[k]].layer as? Input else { return }
    guard x.rank == input.shape.rank + 1, Array(x.shape.dims.dropFirst()) == input.shape.dims else {
      throw ShapeError("model input \(nodes[inputNodes[k]].name): expected [batch] + \(input.shape), got \(x.shape)")
    }
  }

  /// The phase last set with `setPhase` (models start in training).
  public private(set) var phase: Phase = .training

  /// Sets training or inference behaviour on every layer.
  public func setPhase(_ phase: Phase) {
    self.phase = phase
    for n in nodes { n.layer.setPhase(phase) }
  }

  /// All parameters with dotted names ("layer1.0.conv1.weight"), in node order.
  public var namedParameters: [(name: String, parameter: Parameter)] {
    nodes.flatMap { n in n.layer.namedParameters.map { (n.fullName(of: $0.name), $0.parameter) } }
  }

  public var parameters: [Parameter] { namedParameters.map(\.parameter) }

  public var namedBuffers: [(name: String, buffer: Buffer)] {
    nodes.flatMap { n in n.layer.namedBuffers.map { (n.fullName(of: $0.name), $0.buffer) } }
  }

  /// Name of a parameter (nil if it does not belong to this model).
  public func name(of p: Parameter) -> String? { namedParameters.first { $0.parameter === p }?.name }

  // MARK: graph editing (used by transforms)

  /// Replaces the layer of node i.
  public func replaceLayer(at i: Int, with layer: any Layer) {
    layer.setPhase(phase)
    nodes[i].layer = layer
  }

  /// Removes node i, rewiring its consumers to its (single) input. For identities and folded BN.
  public func bypass(_ i: Int) {
    precondition(nodes[i].inputs.count == 1, "bypass: node \(nodes[i].name) has \(nodes[i].inputs.count) inputs")
    let source = nodes[i].inputs[0]
    var newNodes = nodes
    newNodes.remove(at: i)
    func remap(_ j: Int) -> Int { j == i ? source : (j > i ? j - 1 : j) }
    for k in newNodes.indices { newNodes[k].inputs = newNodes[k].inputs.map(remap) }
    nodes = newNodes
    inputNodes = inputNodes.map(remap)
    outputNodes = outputNodes.map(remap)
    lastUse = Model.lastUses(nodes, outputNodes)
  }

  /// Inserts a new node reading node `after`'s output; every former consumer of `after` (and
  /// the model output, if it was one) now reads the new node instead. Returns the new index.
  @discardableResult
  public func insert(_ name: String, _ layer: any Layer, after: Int) -> Int {
    let at = after + 1
    var newNodes = nodes
    func remap(_ j: Int) -> Int { j == after ? at : (j >= at ? j + 1 : j) }
    for k in newNodes.indices { newNodes[k].inputs = newNodes[k].inputs.map(remap) }
    newNodes.insert(Node(name: name, layer: layer, inputs: [after]), at: at)
    precondition(!nodes.contains { $0.name == name }, "insert: duplicate node name \(name)")
    nodes = newNodes
    inputNodes = inputNodes.map { $0 >= at ? $0 + 1 : $0 }
    outputNodes = outputNodes.map(remap)
    lastUse = Model.lastUses(nodes, outputNodes)
    return at
  }
}

extension Model {
  /// Every node's output shape for a batch of one (an inference pass on zeros; the phase is
  /// restored), empty without an input shape.
  public func outputShapes() -> [Int: Shape] {
    guard let input = inputShape() else { return [:] }
    let previous = phase
    setPhase(.inference)
    defer { setPhase(previous) }
    var shapes: [Int: Shape] = [:]
    _ = withoutGradients { forward([Tensor.zeros(Shape([1] + input.dims))]) { j, t in shapes[j] = t.shape } }
    return shapes
  }

  /// Runs body with every parameter frozen (no autodiff recording: an evaluation pass builds no
  /// tape), then restores each parameter's previous setting.
  public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    let params = parameters
    let previous = params.map(\.requiresGradient)
    for p in params { p.requiresGradient = false }
    defer { for (p, r) in zip(params, previous) { p.requiresGradient = r } }
    return try body()
  }
}
