import Datasets
import Foundation
import HDF5IO
import TensorCore
import Testing
import TestSupport

@Suite struct PipelineTests {
  /// The whole CIFAR-10 test set through ImageFolder + cifarResNet20 + DataLoader (2 workers): the
  /// first 64 rows equal the reference `input`, labels follow the canonical order.
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func cifarTestSetThroughTheLoader() throws {
    let folder = try ImageFolder(root: TestData.path("data/cifar10/test"))
    let pipeline = try ImagePipeline(source: folder, preprocessing: .cifarResNet20)
    let loader = DataLoader(dataset: pipeline, batchSize: 64, shuffle: false, seed: 0, workers: 2)
    let reference = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read).read("input", as: Float.self).values
    let start = Date()
    var it = loader.batches(epoch: 0)
    var seen = 0
    var first = true
    while let batch = try it.next() {
      #expect(batch.images.shape.dims == [batch.indices.count, 3, 32, 32])
      #expect(batch.indices == Array(seen..<(seen + batch.indices.count)))
      #expect(batch.labels == batch.indices.map { $0 / 1000 })
      if first {
        #expect(batch.images.scalars.map(\.bitPattern) == reference.map(\.bitPattern))
        first = false
      }
      seen += batch.indices.count
    }
    let seconds = Date().timeIntervalSince(start)
    #expect(seen == 10_000 && it.skippedCount == 0)
    print("decode + preprocess of 10,000 CIFAR test JPEGs (debug build, 2 workers): \(Int(Double(seen) / seconds)) images/s")
  }

  @Test(.enabled(if: TestData.hasMNIST, TestData.skipMNIST))
  func mnistThroughThePipeline() throws {
    let mnist = try MNIST(images: TestData.path("data/mnist/t10k-images-idx3-ubyte.gz"),
                          labels: TestData.path("data/mnist/t10k-labels-idx1-ubyte.gz"))
    let pipeline = try ImagePipeline(source: mnist, preprocessing: Preprocessing(dims: [1, 28, 28], meanValue: [0.1307], std: [0.3081]))
    var it = DataLoader(dataset: pipeline, batchSize: 100, shuffle: true, seed: 9, dropLast: true, workers: 2).batches(epoch: 0)
    let batch = try #require(try it.next())
    #expect(batch.images.shape == [100, 1, 28, 28])
    let (image, label) = try mnist.image(at: batch.indices[0])
    #expect(batch.labels[0] == label)
    #expect(batch.images[0, 0, 14, 14] == (Float(image[y: 14, x: 14, c: 0]) / 255 - 0.1307) / 0.3081)
  }
}
