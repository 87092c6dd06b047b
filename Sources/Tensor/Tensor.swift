/// A dense Float32 tensor: contiguous, row-major, with value semantics (copy on write).
///
/// This type carries no autodiff behaviour itself; the `Autograd` module records operations on it
/// through `tapeNode`, which stays nil for tensors that do not depend on a tracked input.
public struct Tensor: @unchecked Sendable {
  public let shape: Shape
  var storage: TensorStorage
  /// Order of the elements in memory. Convolutions may produce channel-blocked tensors; every
  /// API that exposes element order (scalars, buffers, subscripts) presents row-major order.
  public private(set) var layout: TensorLayout
  /// Set by `Autograd` on results of recorded operations; opaque to this module.
  public var tapeNode: AnyObject?

  /// A tensor with uninitialised contents (for kernels that write every element).
  init(uninitializedShape shape: Shape, layout: TensorLayout = .rowMajor) {
    layout.validate(for: shape)
    self.shape = shape
    self.storage = TensorStorage(count: shape.count)
    self.layout = layout
    self.tapeNode = nil
  }

  init(shape: Shape, storage: TensorStorage, layout: TensorLayout = .rowMajor) {
    precondition(storage.count == shape.count)
    self.shape = shape
    self.storage = storage
    self.layout = layout
    self.tapeNode = nil
  }

  /// Creates a tensor from row-major scalars.
  public init(_ scalars: [Float], shape: Shape) {
    precondition(scalars.count == shape.count,
                 "Tensor(_:shape:): \(scalars.count) scalars do not fill shape \(shape) (\(shape.count) elements)")
    self.init(uninitializedShape: shape)
    scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: scalars.count) }
  }

  /// A one-dimensional tensor.
  public init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

  /// A rank-0 tensor.
  public init(scalar: Float) { self.init([scalar], shape: []) }

  /// Creates a tensor and fills it through a mutable buffer.
  public init(shape: Shape, initializer: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
    self.init(uninitializedShape: shape)
    try initializer(UnsafeMutableBufferPointer(start: storage.pointer, count: shape.count))
  }

  public var count: Int { shape.count }
  public var rank: Int { shape.rank }

  /// The tensor without its autodiff record: same values, untracked.
  public var detached: Tensor {
    var t = self
    t.tapeNode = nil
    return t
  }

  /// Read access to the elements in row-major order.
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    let t = rowMajor
    return try body(UnsafeBufferPointer(start: t.storage.pointer, count: count))
  }

  /// Read access to the elements in their stored order, which may be channel-blocked (see
  /// `layout`): for order-independent reductions (ranges, histograms, error sums).
  public func withUnsafeStorageBuffer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: storage.pointer, count: count))
  }

  /// Write access to the elements in row-major order, copying the storage first if it is shared.
  public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
    if layout != .rowMajor {
      let node = tapeNode
      self = rowMajor
      tapeNode = node
    }
    if !isKnownUniquelyReferenced(&storage) { storage = TensorStorage(copying: storage) }
    return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
  }

  /// Pointer for kernels that require row-major order (traps on other layouts, so a kernel that
  /// forgot to convert fails loudly instead of computing garbage).
  var pointer: UnsafeMutablePointer<Float> {
    precondition(layout == .rowMajor, "internal: row-major kernel called on a \(layout) tensor")
    return storage.pointer
  }

  /// Pointer to the elements in their stored layout (for layout-aware kernels).
  var storagePointer: UnsafeMutablePointer<Float> { storage.pointer }

  /// The same values in row-major order (self when already row-major; a converted, untracked
  /// copy otherwise).
  public var rowMajor: Tensor { layout == .rowMajor ? self : Kernels.convertLayout(self, to: .rowMajor) }

  /// All elements in row-major order.
  public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

  /// The single element of a one-element tensor.
  public var scalar: Float {
    precondition(count == 1, "scalar: tensor of shape \(shape) has \(count) elements, expected 1")
    return storage.pointer[0]
  }

  /// Element access by full index (slow path, for tests and small tensors).
  public subscript(_ index: Int...) -> Float {
    get {
      let i = flatIndex(index)
      return withUnsafeBufferPointer { $0[i] }
    }
    set {
      let i = flatIndex(index)
      withUnsafeMutableBufferPointer { $0[i] = newValue }
    }
  }

  func flatIndex(_ index: [Int]) -> Int {
    precondition(index.count == rank, "index \(index) has \(index.count) components for shape \(shape)")
    var flat = 0
    for (axis, i) in index.enumerated() {
      precondition(i >= 0 && i < shape.dims[axis], "index \(index) out of range for shape \(shape)")
      flat = flat * shape.dims[axis] + i
    }
    return flat
  }

  /// Same elements, new shape with the same element count (no copy when row-major).
  public func reshapedRaw(to newShape: Shape) -> Tensor {
    precondition(newShape.count == count, "reshape: cannot view \(shape) (\(count) elements) as \(newShape) (\(newShape.count) elements)")
    return Tensor(shape: newShape, storage: rowMajor.storage)
  }

  /// True when both tensors share one buffer (no copy has happened).
  public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let values = count <= 16 ? scalars.map { "\($0)" }.joined(separator: ", ")
                             : scalars.prefix(16).map { "\($0)" }.joined(separator: ", ") + ", ..."
    return "Tensor\(shape)(\(values))"
  }
}
