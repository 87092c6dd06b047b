/// The batches of one epoch, in order. Obtain one from `DataLoader.batches(epoch:)`.
///
/// `next()` returns nil after the last batch. After it has thrown, the iteration is over (the
/// workers are stopped) and later calls return nil. Dropping the iterator early stops its threads.
/// Copies share the same background threads and buffered batches, so advance only one copy.
public struct BatchIterator {
  /// Batches planned for the epoch (before skips).
  public let batchCount: Int
  /// Samples dropped so far because the loader's `skipCorrupt` is set, in order.
  public private(set) var skipped: [SkippedSample] = []
  private let work: @Sendable (Int) throws -> BatchResult
  private let handle: PrefetchHandle?
  private var nextNumber = 0
  private var finished = false

  init(batchCount: Int, workers: Int, prefetch: Int, work: @escaping @Sendable (Int) throws -> BatchResult) {
    self.batchCount = batchCount
    self.work = work
    handle = workers > 0 && batchCount > 0
      ? PrefetchHandle(PrefetchQueue(total: batchCount, workers: workers, prefetch: prefetch, work: work))
      : nil
  }

  public var skippedCount: Int { skipped.count }
  public var skippedSources: [String] { skipped.map(\.source) }

  /// The next batch, nil at the end of the epoch. Throws the first sample error (a `DataError`
  /// naming the file) unless the loader skips corrupt samples.
  public mutating func next() throws -> Batch? {
    while !finished && nextNumber < batchCount {
      let number = nextNumber
      nextNumber += 1
      let result: BatchResult
      do {
        if let handle {
          guard let produced = handle.queue.next() else { finished = true; return nil }
          result = try produced.get()
        } else {
          result = try work(number)
        }
      } catch {
        cancel()
        throw error
      }
      for sample in result.skipped {
        skipped.append(sample)
        StandardError.write("warning: skipped corrupt sample \(sample.index) (\(sample.source)): \(sample.message)\n")
      }
      if let batch = result.batch { return batch }
    }
    finished = true
    return nil
  }

  /// Ends the iteration now and stops the worker threads (also done when the iterator is dropped).
  public mutating func cancel() {
    finished = true
    handle?.queue.cancelAndJoin()
  }

  /// Number of worker threads still running (0 once finished or cancelled and joined).
  public var liveWorkers: Int { handle?.queue.liveWorkers ?? 0 }
}
