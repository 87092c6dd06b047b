import TensorCore

/// A batch of samples: `images` has shape [B] + the sample shape (for images [B, C, H, W]).
public struct Batch: Sendable {
  public var images: Tensor
  public var labels: [Int]
  /// Dataset indices of the rows, in row order.
  public var indices: [Int]
}

/// A sample that `DataLoader` dropped because `skipCorrupt` was set.
public struct SkippedSample: Sendable, Equatable {
  public var index: Int
  public var source: String
  public var message: String
}

/// What one batch number produced: the batch (nil when every sample was skipped) and the skips.
struct BatchResult: Sendable {
  var batch: Batch?
  var skipped: [SkippedSample]
}

/// Builds batches of one epoch: fetches samples with their per-index generators and stacks them.
struct BatchPlan: Sendable {
  let dataset: any Dataset
  let skipCorrupt: Bool
  let seedForIndex: @Sendable (Int) -> UInt64

  init(dataset: any Dataset, skipCorrupt: Bool, seedForIndex: @escaping @Sendable (Int) -> UInt64) {
    self.dataset = dataset
    self.skipCorrupt = skipCorrupt
    self.seedForIndex = seedForIndex
  }

  func make(indices: [Int]) throws -> BatchResult {
    var samples: [Sample] = []
    var kept: [Int] = []
    var skipped: [SkippedSample] = []
    samples.reserveCapacity(indices.count)
    for index in indices {
      do {
        var rng = RandomGenerator(seed: seedForIndex(index))
        let sample = try dataset.sample(at: index, rng: &rng)
        if let first = samples.first, first.tensor.shape != sample.tensor.shape {
          throw DataError(source: dataset.source(at: index),
                          "sample shape \(sample.tensor.shape) differs from \(first.tensor.shape) of the other samples in its batch")
        }
        samples.append(sample)
        kept.append(index)
      } catch {
        let named = error as? DataError ?? DataError(source: dataset.source(at: index), "\(error)")
        guard skipCorrupt else { throw named }
        skipped.append(SkippedSample(index: index, source: named.source, message: named.message))
      }
    }
    guard let first = samples.first else { return BatchResult(batch: nil, skipped: skipped) }
    let size = first.tensor.count
    let images = Tensor(shape: Shape([samples.count] + first.tensor.shape.dims)) { out in
      for (row, sample) in samples.enumerated() {
        guard size > 0 else { continue }
        sample.tensor.withUnsafeBufferPointer { src in
          out.baseAddress!.advanced(by: row * size).update(from: src.baseAddress!, count: size)
        }
      }
    }
    return BatchResult(batch: Batch(images: images, labels: samples.map(\.label), indices: kept), skipped: skipped)
  }
}
