import TensorCore

/// One recorded operation: its tracked inputs and the pullback that maps the cotangent of its
/// result to cotangents of those inputs. Leaves (parameters, tensors marked for gradients) have no
/// inputs and carry the identity their gradient is reported under.
final class TapeNode {
  private(set) var inputs: [TapeNode]
  /// Cotangent of the output -> one cotangent per entry of `inputs` (nil = zero).
  private(set) var pullback: ((Tensor) -> [Tensor?])?
  let leaf: GradientKey?
  let shape: Shape

  init(inputs: [TapeNode], shape: Shape, pullback: @escaping (Tensor) -> [Tensor?]) {
    self.inputs = inputs
    self.pullback = pullback
    self.leaf = nil
    self.shape = shape
  }

  init(leaf: GradientKey, shape: Shape) {
    self.inputs = []
    self.pullback = nil
    self.leaf = leaf
    self.shape = shape
  }

  // Releasing the last reference to a long chain would otherwise recurse once per node and
  // overflow the stack; unlink uniquely owned ancestors iteratively instead.
  deinit {
    guard !inputs.isEmpty else { return }
    var stack = inputs
    inputs = []
    pullback = nil
    while var n = stack.popLast() {
      if isKnownUniquelyReferenced(&n) {
        stack.append(contentsOf: n.inputs)
        n.inputs = []
        n.pullback = nil
      }
    }
  }
}

/// What a gradient is reported under: a parameter or a tensor marked with `trackingGradients()`.
/// Holds its owner strongly, so a key never aliases a later object.
public struct GradientKey: Hashable, @unchecked Sendable {
  let owner: AnyObject
  init(_ owner: AnyObject) { self.owner = owner }
  public static func == (a: GradientKey, b: GradientKey) -> Bool { a.owner === b.owner }
  public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(owner)) }
}

/// Identity token for tensors marked as gradient leaves.
final class LeafToken {}

extension Tensor {
  var node: TapeNode? { tapeNode.map { unsafeDowncast($0, to: TapeNode.self) } }

  /// True when this tensor depends on a tracked input (gradients can flow into it).
  public var isTracked: Bool { tapeNode != nil }

  /// Records `self` (the untracked result of an operation on `inputs`) on the tape when any input
  /// is tracked. `pullback` receives the cotangent of `self` and returns one cotangent per input,
  /// in order (nil for inputs that get none). Untracked inputs are skipped.
  public func recorded(from inputs: [Tensor], pullback: @escaping (Tensor) -> [Tensor?]) -> Tensor {
    var tracked: [TapeNode] = []
    var positions: [Int] = []
    for (i, x) in inputs.enumerated() {
      if let n = x.node {
        tracked.append(n)
        positions.append(i)
      }
    }
    if tracked.isEmpty { return self }
    var out = self
    let all = inputs.count
    if positions.count == all {
      out.tapeNode = TapeNode(inputs: tracked, shape: shape, pullback: pullback)
    } else {
      out.tapeNode = TapeNode(inputs: tracked, shape: shape) { g in
        let grads = pullback(g)
        precondition(grads.count == all, "pullback returned \(grads.count) cotangents for \(all) inputs")
        return positions.map { grads[$0] }
      }
    }
    return out
  }

  /// A copy of this tensor that is a gradient leaf: `gradients(of:)` reports the gradient of a
  /// loss with respect to it under `gradientKey`.
  public func trackingGradients() -> (tensor: Tensor, key: GradientKey) {
    let key = GradientKey(LeafToken())
    var t = detached
    t.tapeNode = TapeNode(leaf: key, shape: shape)
    return (t, key)
  }
}
