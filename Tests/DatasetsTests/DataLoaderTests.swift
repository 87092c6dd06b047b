import Datasets
import Foundation
import TensorCore
import Testing
import TestSupport

@Suite struct DataLoaderTests {
  func collect(_ loader: DataLoader, epoch: Int) throws -> [Batch] {
    var it = loader.batches(epoch: epoch)
    var batches: [Batch] = []
    while let batch = try it.next() { batches.append(batch) }
    return batches
  }

  func same(_ a: [Batch], _ b: [Batch]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
      x.indices == y.indices && x.labels == y.labels && x.images.shape == y.images.shape &&
        x.images.scalars.map(\.bitPattern) == y.images.scalars.map(\.bitPattern)
    }
  }

  @Test func sameSeedGivesIdenticalBatchesForAnyWorkerCount() throws {
    let pipeline = try ImagePipeline(source: SyntheticImages(count: 37), augmentation: .init(randomCrop: 6, padding: 2, horizontalFlip: true),
                                     preprocessing: Preprocessing(meanValue: [0.5], std: [0.25]))
    var results: [[Batch]] = []
    for (workers, prefetch) in [(0, 1), (1, 1), (2, 4), (2, 1)] {
      let loader = DataLoader(dataset: pipeline, batchSize: 5, shuffle: true, seed: 42, workers: workers, prefetch: prefetch)
      results.append(try collect(loader, epoch: 3))
    }
    #expect(results[0].count == 8)
    #expect(results[0][0].images.shape == [5, 3, 6, 6])
    #expect(results[0].last?.images.shape == [2, 3, 6, 6])
    for r in results.dropFirst() { #expect(same(results[0], r)) }
    // Another epoch or seed changes the order and the augmentation.
    let other = try collect(DataLoader(dataset: pipeline, batchSize: 5, shuffle: true, seed: 42, workers: 2), epoch: 4)
    #expect(!same(results[0], other))
  }

  @Test func shuffleVisitsEveryIndexOncePerEpoch() throws {
    let loader = DataLoader(dataset: IndexDataset(count: 103), batchSize: 10, shuffle: true, seed: 7, workers: 2)
    var orders: [[Int]] = []
    for epoch in 0..<3 {
      let batches = try collect(loader, epoch: epoch)
      let visited = batches.flatMap(\.indices)
      #expect(visited.sorted() == Array(0..<103))
      #expect(visited == loader.order(epoch: epoch))
      // Row r of a batch is the sample of indices[r].
      for batch in batches {
        for (row, index) in batch.indices.enumerated() { #expect(batch.images[row, 0] == Float(index)) }
        #expect(batch.labels == batch.indices.map { $0 % 3 })
      }
      orders.append(visited)
    }
    #expect(orders[0] != orders[1] && orders[1] != orders[2])
    let plain = try collect(DataLoader(dataset: IndexDataset(count: 25), batchSize: 10, shuffle: false, seed: 7, workers: 1), epoch: 0)
    #expect(plain.flatMap(\.indices) == Array(0..<25))
  }

  @Test func dropLastDropsTheIncompleteBatch() throws {
    for workers in [0, 2] {
      let loader = DataLoader(dataset: IndexDataset(count: 23), batchSize: 5, shuffle: true, seed: 1, dropLast: true, workers: workers)
      let batches = try collect(loader, epoch: 0)
      #expect(loader.batchCount == 4 && batches.count == 4)
      #expect(batches.allSatisfy { $0.images.shape == [5, 2] })
      let keep = DataLoader(dataset: IndexDataset(count: 23), batchSize: 5, shuffle: true, seed: 1, workers: workers)
      #expect(try collect(keep, epoch: 0).map(\.indices.count) == [5, 5, 5, 5, 3])
    }
  }

  @Test func corruptSampleThrowsOrIsSkipped() throws {
    let dataset = IndexDataset(count: 20, failing: [13])
    for workers in [0, 2] {
      var it = DataLoader(dataset: dataset, batchSize: 4, shuffle: false, seed: 0, workers: workers).batches(epoch: 0)
      var delivered = 0
      var caught: DataError?
      do { while try it.next() != nil { delivered += 1 } } catch let error as DataError { caught = error }
      #expect(caught?.source == "index-file-13.bin")
      #expect(delivered == 3)
      #expect(try it.next() == nil)

      var skipping = DataLoader(dataset: dataset, batchSize: 4, shuffle: false, seed: 0, workers: workers, skipCorrupt: true).batches(epoch: 0)
      var sizes: [Int] = []
      while let batch = try skipping.next() { sizes.append(batch.indices.count) }
      #expect(sizes == [4, 4, 4, 3, 4])
      #expect(skipping.skippedCount == 1 && skipping.skippedSources == ["index-file-13.bin"])
    }
  }

  @Test func corruptFileInImageFolderIsNamed() throws {
    let dir = TestData.temporaryDirectory("loader")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir + "/cls", withIntermediateDirectories: true)
    for i in 0..<6 { try writeBytes(try ImageEncoder.png(patternImage(width: 8, height: 8, seed: i)), to: dir + "/cls/\(i).png") }
    try writeBytes(Array(try ImageEncoder.jpeg(patternImage(width: 8, height: 8)).prefix(100)), to: dir + "/cls/3.png")
    let pipeline = try ImagePipeline(source: try ImageFolder(root: dir), preprocessing: Preprocessing(dims: [3, 8, 8]))
    var it = DataLoader(dataset: pipeline, batchSize: 4, shuffle: false, seed: 0, workers: 1).batches(epoch: 0)
    let thrown = #expect(throws: DataError.self) { _ = try it.next() }
    #expect(thrown?.source == dir + "/cls/3.png")
    let error = dataError { var i = DataLoader(dataset: pipeline, batchSize: 4, shuffle: false, seed: 0, workers: 0).batches(epoch: 0); _ = try i.next() }
    #expect(error?.source == dir + "/cls/3.png")
    var skipping = DataLoader(dataset: pipeline, batchSize: 4, shuffle: false, seed: 0, workers: 2, skipCorrupt: true).batches(epoch: 0)
    var total = 0
    while let batch = try skipping.next() { total += batch.indices.count }
    #expect(total == 5 && skipping.skippedSources == [dir + "/cls/3.png"])
  }

  @Test func stoppingEarlyJoinsWorkerThreads() throws {
    let loader = DataLoader(dataset: IndexDataset(count: 1000), batchSize: 2, shuffle: true, seed: 3, workers: 2, prefetch: 2)
    var it = loader.batches(epoch: 0)
    _ = try it.next()
    #expect(it.liveWorkers <= 2)
    it.cancel()
    #expect(it.liveWorkers == 0)
    #expect(try it.next() == nil)
    // Dropping an iterator mid-epoch must not hang either.
    for _ in 0..<20 {
      var dropped = loader.batches(epoch: 1)
      _ = try dropped.next()
    }
  }
}
