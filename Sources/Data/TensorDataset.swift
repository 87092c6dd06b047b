import TensorCore

/// Samples already in memory: a batch tensor [N, ...] and one label per sample, e.g. generated
/// data or a preprocessed array. Sample i is `images[i]`.
///
/// ```swift
/// let (x, y) = SyntheticShapes.make(count: 1024, seed: 1)
/// let loader = DataLoader(dataset: try TensorDataset(images: x, labels: y), batchSize: 64, shuffle: true, seed: 1)
/// ```
public struct TensorDataset: Dataset {
  public let images: Tensor
  public let labels: [Int]
  public let classNames: [String]

  /// Throws when the label count is not the batch size or a label is negative.
  public init(images: Tensor, labels: [Int], classNames: [String]? = nil) throws {
    guard images.rank >= 1, images.shape[0] == labels.count else {
      throw DataError(source: "TensorDataset", "\(labels.count) labels for images \(images.shape) (one per sample expected)")
    }
    guard labels.allSatisfy({ $0 >= 0 }) else { throw DataError(source: "TensorDataset", "labels must be non-negative") }
    self.images = images
    self.labels = labels
    self.classNames = classNames ?? (0...(labels.max() ?? 0)).map { "class \($0)" }
  }

  public var count: Int { labels.count }

  public func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample {
    let one = Kernels.slice(images, [SliceRange(index, index + 1)])
    return Sample(tensor: one.reshapedRaw(to: Shape(Array(images.shape.dims.dropFirst()))), label: labels[index])
  }

  public func source(at index: Int) -> String { "TensorDataset#\(index)" }
}
