import TensorCore

/// Gradients of a scalar with respect to the parameters and marked tensors it depends on.
public struct Gradients: @unchecked Sendable {
  public private(set) var values: [GradientKey: Tensor] = [:]

  public init() {}

  public subscript(_ p: Parameter) -> Tensor? { values[p.key] }
  public subscript(_ key: GradientKey) -> Tensor? {
    get { values[key] }
    set { values[key] = newValue }
  }

  public var count: Int { values.count }

  /// Adds g to the gradient stored under key.
  mutating func accumulate(_ g: Tensor, for key: GradientKey) {
    if let existing = values[key] {
      values[key] = Kernels.binary(.add, existing, g)
    } else {
      values[key] = g
    }
  }
}

/// Reverse-mode differentiation of `loss` (one element) through every recorded operation it
/// depends on. Gradients are accumulated in a dictionary local to this call: calling it twice
/// never double counts. The traversal is iterative, so arbitrarily deep graphs work.
public func gradients(of loss: Tensor, seed: Tensor? = nil) -> Gradients {
  var result = Gradients()
  guard let root = loss.node else { return result }
  precondition(seed != nil || loss.count == 1, "gradients(of:): loss has shape \(loss.shape); reduce it to one element or pass a seed")
  let order = topologicalOrder(from: root)
  var cotangents: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed?.detached ?? Tensor.ones(loss.shape)]
  for node in order.reversed() {
    guard let g = cotangents.removeValue(forKey: ObjectIdentifier(node)) else { continue }
    if let key = node.leaf {
      result.accumulate(g, for: key)
      continue
    }
    guard let pullback = node.pullback else { continue }
    let grads = pullback(g)
    precondition(grads.count == node.inputs.count, "pullback returned \(grads.count) cotangents for \(node.inputs.count) inputs")
    for (input, grad) in zip(node.inputs, grads) {
      guard var grad else { continue }
      grad.tapeNode = nil
      precondition(grad.shape == input.shape, "pullback produced a cotangent of shape \(grad.shape) for an input of shape \(input.shape)")
      let id = ObjectIdentifier(input)
      if let existing = cotangents[id] {
        cotangents[id] = Kernels.binary(.add, existing, grad)
      } else {
        cotangents[id] = grad
      }
    }
  }
  return result
}

/// Evaluates `body` and differentiates its (one-element) result.
public func valueWithGradients(_ body: () throws -> Tensor) rethrows -> (value: Tensor, gradients: Gradients) {
  let loss = try body()
  return (loss.detached, gradients(of: loss))
}

/// Nodes reachable from root, each after all of its inputs (iterative depth-first post-order).
func topologicalOrder(from root: TapeNode) -> [TapeNode] {
  var order: [TapeNode] = []
  var visited = Set<ObjectIdentifier>()
  var stack: [(TapeNode, Int)] = [(root, 0)]
  visited.insert(ObjectIdentifier(root))
  while let (node, next) = stack.last {
    if next < node.inputs.count {
      stack[stack.count - 1].1 = next + 1
      let child = node.inputs[next]
      if visited.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
    } else {
      order.append(node)
      stack.removeLast()
    }
  }
  return order
}
