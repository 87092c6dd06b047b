import TensorCore

/// Per-node output shapes, parameter counts and FLOPs (a multiply-add counts 2), from one
/// forward pass on a zero batch of one.
public struct ModelSummary: CustomStringConvertible {
  public struct Row {
    public var name: String
    public var kind: String
    public var outputShape: Shape
    public var parameters: Int
    public var flops: Int
  }
  public var rows: [Row]
  public var totalParameters: Int { rows.reduce(0) { $0 + $1.parameters } }
  public var totalFlops: Int { rows.reduce(0) { $0 + $1.flops } }

  public var description: String {
    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    var lines = [pad("node", 28) + pad("layer", 14) + pad("output", 20) + pad("params", 10) + "FLOPs"]
    for r in rows {
      lines.append(pad(r.name, 28) + pad(r.kind, 14) + pad(r.outputShape.description, 20) + pad(String(r.parameters), 10) + String(r.flops))
    }
    lines.append("total: \(totalParameters) parameters, \(totalFlops) FLOPs per sample")
    return lines.joined(separator: "\n")
  }
}

extension Model {
  public func summary() -> ModelSummary {
    let inputs = inputNodes.map { i -> Tensor in
      let shape = (nodes[i].layer as! Input).shape
      return Tensor.zeros(Shape([1] + shape.dims))
    }
    var shapes = [Shape](repeating: [], count: nodes.count)
    let previous = phase
    setPhase(.inference)  // a training-mode pass would update batch-norm statistics
    _ = forward(inputs) { i, t in shapes[i] = t.shape }
    setPhase(previous)
    let rows = nodes.enumerated().map { i, n in
      ModelSummary.Row(name: n.name, kind: n.layer.kind, outputShape: shapes[i],
                       parameters: n.layer.namedParameters.reduce(0) { $0 + $1.parameter.value.count },
                       flops: n.layer.flops(inputs: n.inputs.map { shapes[$0] }, output: shapes[i]))
    }
    return ModelSummary(rows: rows)
  }
}
