import Foundation

/// Runs `work(0)`, `work(1)`, ... `work(total - 1)` on background threads, at most `prefetch` ahead of
/// the consumer, and hands the results out strictly in order.
///
/// The threads hold this object but not the `PrefetchHandle` that owns it, so dropping the last
/// iterator copy cancels the queue; `cancelAndJoin()` wakes every waiting thread and returns once all
/// of them have exited (a thread busy with a batch finishes that batch first).
final class PrefetchQueue: @unchecked Sendable {
  private let condition = NSCondition()
  private let total: Int
  private let prefetch: Int
  private let work: @Sendable (Int) throws -> BatchResult
  // Guarded by `condition`:
  private var scheduled = 0
  private var consumed = 0
  private var results: [Int: Result<BatchResult, any Error>] = [:]
  private var cancelled = false
  private var running = 0

  init(total: Int, workers: Int, prefetch: Int, work: @escaping @Sendable (Int) throws -> BatchResult) {
    self.total = total
    self.prefetch = prefetch
    self.work = work
    running = workers
    for number in 0..<workers {
      let thread = Thread { [self] in runWorker() }
      thread.name = "DataLoader worker \(number)"
      thread.stackSize = 8 << 20
      thread.start()
    }
  }

  private func runWorker() {
    while true {
      condition.lock()
      while !cancelled && scheduled < total && scheduled >= consumed + prefetch { condition.wait() }
      if cancelled || scheduled >= total {
        running -= 1
        condition.broadcast()
        condition.unlock()
        return
      }
      let number = scheduled
      scheduled += 1
      condition.unlock()

      let result = Result { try work(number) }
      condition.lock()
      results[number] = result
      condition.broadcast()
      condition.unlock()
    }
  }

  /// The next result in order, or nil when all were handed out or the queue was cancelled.
  func next() -> Result<BatchResult, any Error>? {
    condition.lock()
    defer { condition.unlock() }
    guard consumed < total else { return nil }
    while results[consumed] == nil && !cancelled { condition.wait() }
    guard let result = results.removeValue(forKey: consumed) else { return nil }
    consumed += 1
    condition.broadcast()
    return result
  }

  /// Stops the workers and waits until every one has exited.
  func cancelAndJoin() {
    condition.lock()
    cancelled = true
    results.removeAll()
    condition.broadcast()
    while running > 0 { condition.wait() }
    condition.unlock()
  }

  /// Number of worker threads still alive (for tests).
  var liveWorkers: Int {
    condition.lock()
    defer { condition.unlock() }
    return running
  }
}

/// Owns a queue for the iterator: its deinit cancels and joins the threads.
final class PrefetchHandle: Sendable {
  let queue: PrefetchQueue
  init(_ queue: PrefetchQueue) { self.queue = queue }
  deinit { queue.cancelAndJoin() }
}
