import TensorCore

/// Batches of a `Dataset`, optionally shuffled, decoded and preprocessed on background threads.
///
/// Determinism: for a given seed and epoch the batches are bitwise identical whatever `workers` and
/// `prefetch` are and however the threads are scheduled:
/// - with `shuffle`, the order is `RandomGenerator(seed: shuffleSeed(epoch:)).permutation(count)`,
///   otherwise 0..<count;
/// - sample `index` is produced with its own `RandomGenerator(seed: sampleSeed(epoch:index:))`;
/// - batches are returned in order.
///
/// Errors: a sample that fails throws its `DataError` (naming the file) from `BatchIterator.next()`.
/// With `skipCorrupt`, such a sample is dropped instead (its batch is then smaller), counted in the
/// iterator's `skipped` list and reported on stderr.
public struct DataLoader: Sendable {
  public let dataset: any Dataset
  public let batchSize: Int
  public let shuffle: Bool
  public let seed: UInt64
  public let dropLast: Bool
  /// Background threads; 0 produces every batch synchronously inside `next()`.
  public let workers: Int
  /// Most batches computed ahead of the consumer (ready or in progress).
  public let prefetch: Int
  public let skipCorrupt: Bool

  public init(dataset: any Dataset, batchSize: Int, shuffle: Bool, seed: UInt64, dropLast: Bool = false,
              workers: Int = 2, prefetch: Int = 4, skipCorrupt: Bool = false) {
    precondition(batchSize > 0, "DataLoader: batchSize must be positive, not \(batchSize)")
    precondition(workers >= 0, "DataLoader: workers must be ≥ 0, not \(workers)")
    precondition(prefetch > 0, "DataLoader: prefetch must be positive, not \(prefetch)")
    self.dataset = dataset
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.seed = seed
    self.dropLast = dropLast
    self.workers = workers
    self.prefetch = prefetch
    self.skipCorrupt = skipCorrupt
  }

  /// Number of batches per epoch (before any corrupt sample is skipped).
  public var batchCount: Int {
    dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
  }

  /// The sample indices of one epoch in visiting order.
  public func order(epoch: Int) -> [Int] {
    guard shuffle else { return Array(0..<dataset.count) }
    var rng = RandomGenerator(seed: shuffleSeed(epoch: epoch))
    return rng.permutation(dataset.count)
  }

  /// Seed of the epoch's shuffling generator.
  public func shuffleSeed(epoch: Int) -> UInt64 {
    Self.derive([seed, UInt64(bitPattern: Int64(epoch)), 0x5348_5546])
  }

  /// Seed of the generator that sample `index` gets in `epoch` (for its augmentation).
  public func sampleSeed(epoch: Int, index: Int) -> UInt64 {
    Self.derive([seed, UInt64(bitPattern: Int64(epoch)), 0x5341_4D50, UInt64(bitPattern: Int64(index))])
  }

  /// An iterator over the batches of `epoch`. Stopping early is fine: dropping the iterator (or
  /// calling `cancel()`) stops and joins its threads.
  public func batches(epoch: Int) -> BatchIterator {
    let order = order(epoch: epoch)
    let count = batchCount
    let batchSize = batchSize
    let plan = BatchPlan(dataset: dataset, skipCorrupt: skipCorrupt) { [self] index in sampleSeed(epoch: epoch, index: index) }
    let work: @Sendable (Int) throws -> BatchResult = { number in
      let start = number * batchSize
      return try plan.make(indices: Array(order[start..<min(start + batchSize, order.count)]))
    }
    return BatchIterator(batchCount: count, workers: workers, prefetch: prefetch, work: work)
  }

  /// SplitMix64-based hash of several words (order matters).
  static func derive(_ parts: [UInt64]) -> UInt64 {
    func mix(_ x: UInt64) -> UInt64 {
      var z = x &+ 0x9E37_79B9_7F4A_7C15
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    return parts.reduce(0x5851_F42D_4C95_7F2D) { mix($0 ^ mix($1)) }
  }
}
