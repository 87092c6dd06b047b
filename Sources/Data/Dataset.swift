import TensorCore

/// One training or evaluation example: a float tensor (for images [C, H, W]) and its class label
/// (-1 when unknown).
public struct Sample: Sendable {
  public var tensor: Tensor
  public var label: Int

  public init(tensor: Tensor, label: Int) {
    self.tensor = tensor
    self.label = label
  }
}

/// An indexed collection of samples. Implementations must be safe to call from several threads at
/// once (the `DataLoader` runs `sample(at:rng:)` on worker threads) and must draw all randomness from
/// `rng`, so that a sample depends only on its index and the generator passed in.
public protocol Dataset: Sendable {
  var count: Int { get }
  var classNames: [String] { get }
  /// The sample at `index` (0..<count). Corrupt data throws a `DataError` naming `source(at:)`.
  func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample
  /// Where sample `index` comes from, for messages: a file path or `"file#index"`.
  func source(at index: Int) -> String
}
