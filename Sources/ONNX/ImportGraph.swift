import Layers
import TensorCore

/// A value of the ONNX graph while importing: known now (folded), produced at run time by a node
/// of the model being built (with its per-sample shape: the batch axis comes first and is not
/// listed), or unknown because an unsupported node produced it (`inspect` goes on past those).
enum ImportValue {
  case constant(ConstantTensor)
  case runtime(RuntimeValue)
  case unknown

  var runtime: RuntimeValue? { if case .runtime(let r) = self { r } else { nil } }
  var constant: ConstantTensor? { if case .constant(let c) = self { c } else { nil } }
}

/// A tensor computed by the model: the node that produces it and its shape without the batch axis.
struct RuntimeValue {
  var node: Int
  var sample: [Int]
  var rank: Int { sample.count + 1 }
  /// The shape with the batch axis as 1 (for shape arithmetic and FLOPs).
  var shapeOfOne: Shape { Shape([1] + sample) }
}

/// The model under construction: nodes in topological order, each a layer over earlier nodes.
/// Nodes no output depends on are dropped when the model is built.
struct ImportGraph {
  struct Node {
    var name: String
    var layer: any Layer
    var inputs: [Int]
    var tensorNames: [String: String]
  }

  var nodes: [Node] = []
  var inputs: [Int] = []
  private var names: Set<String> = []

  /// A node name not used yet: `base`, else `base/1`, `base/2`, ...
  mutating func uniqueName(_ base: String) -> String {
    var name = base, k = 1
    while names.contains(name) { name = "\(base)/\(k)"; k += 1 }
    names.insert(name)
    return name
  }

  mutating func add(_ name: String, _ layer: any Layer, _ inputs: [Int], tensorNames: [String: String] = [:]) -> Int {
    nodes.append(Node(name: uniqueName(name), layer: layer, inputs: inputs, tensorNames: tensorNames))
    return nodes.count - 1
  }

  /// Readers of node i (inputs are few; a linear scan).
  func consumers(of i: Int) -> [Int] { nodes.indices.filter { nodes[$0].inputs.contains(i) } }

  /// The model of the nodes the outputs need (inputs always kept), renumbered.
  func build(outputs: [Int]) -> Model {
    var live = Set(outputs + inputs)
    for i in nodes.indices.reversed() where live.contains(i) { live.formUnion(nodes[i].inputs) }
    var index: [Int: Int] = [:]
    var kept: [Model.Node] = []
    for i in nodes.indices where live.contains(i) {
      index[i] = kept.count
      let n = nodes[i]
      kept.append(Model.Node(name: n.name, layer: n.layer, inputs: n.inputs.map { index[$0]! }, tensorNames: n.tensorNames))
    }
    return Model(nodes: kept, inputs: inputs.map { index[$0]! }, outputs: outputs.map { index[$0]! })
  }
}
