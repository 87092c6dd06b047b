import Datasets
import Foundation
import HDF5IO
import TensorCore
import Testing
import TestSupport

@Suite struct SourceTests {
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR))
  func imageFolderListsCIFARTestInCanonicalOrder() throws {
    let root = TestData.path("data/cifar10/test")
    let folder = try ImageFolder(root: root)
    #expect(folder.count == 10_000)
    #expect(folder.classNames == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    for i in stride(from: 0, to: 10_000, by: 997) + [9_999] {
      let expected = root + "/" + folder.classNames[i / 1000] + "/" + String(format: "%04d.jpg", i % 1000)
      #expect(folder.source(at: i) == expected)
      #expect(folder.labels[i] == i / 1000)
    }
    let (image, label) = try folder.image(at: 4321)
    #expect(label == 4 && image.width == 32 && image.channels == 3)
  }

  @Test func imageFolderRulesAndErrors() throws {
    let dir = TestData.temporaryDirectory("folder")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(dataError { _ = try ImageFolder(root: dir + "/missing") }?.source == dir + "/missing")
    #expect(dataError { _ = try ImageFolder(root: dir) }?.source == dir)  // no class folders
    let fm = FileManager.default
    for name in ["b", "a"] { try fm.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true) }
    try writeBytes(try ImageEncoder.png(patternImage(width: 4, height: 4)), to: dir + "/b/2.PNG")
    try writeBytes(try ImageEncoder.jpeg(patternImage(width: 4, height: 4)), to: dir + "/b/1.Jpeg")
    try writeBytes(Array("notes".utf8), to: dir + "/b/readme.txt")
    #expect(dataError { _ = try ImageFolder(root: dir) }?.source == dir + "/a")  // empty class folder
    try writeBytes(try ImageEncoder.png(patternImage(width: 4, height: 4, channels: 1)), to: dir + "/a/x.png")
    let folder = try ImageFolder(root: dir)
    #expect(folder.classNames == ["a", "b"])
    #expect(folder.files == [dir + "/a/x.png", dir + "/b/1.Jpeg", dir + "/b/2.PNG"])
    #expect(folder.labels == [0, 1, 1])
    #expect(try folder.image(at: 0).0.channels == 1)
    #expect(try ImageFolder(root: dir, channels: .rgb).image(at: 0).0.channels == 3)
  }

  @Test(.enabled(if: TestData.hasMNIST, TestData.skipMNIST))
  func mnistTestSet() throws {
    let mnist = try MNIST(images: TestData.path("data/mnist/t10k-images-idx3-ubyte.gz"),
                          labels: TestData.path("data/mnist/t10k-labels-idx1-ubyte.gz"))
    #expect(mnist.count == 10_000 && mnist.rows == 28 && mnist.columns == 28)
    #expect(Array(mnist.labels.prefix(10)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    var counts = [Int](repeating: 0, count: 10)
    for label in mnist.labels { counts[label] += 1 }
    #expect(counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    let (image, label) = try mnist.image(at: 0)
    #expect(label == 7 && image.channels == 1 && image.pixels.contains { $0 > 200 })
  }

  @Test func mnistFormatErrors() throws {
    let dir = TestData.temporaryDirectory("mnist")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func idx(_ magic: Int, _ dims: [Int], _ body: [UInt8]) -> [UInt8] {
      ([magic] + dims).flatMap { v in [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } } + body
    }
    let images = dir + "/images", labels = dir + "/labels"
    try writeBytes(idx(2051, [3, 2, 2], Array(0..<12)), to: images)
    try writeBytes(idx(2049, [3], [1, 2, 9]), to: labels)
    let ok = try MNIST(images: images, labels: labels)
    #expect(ok.count == 3 && ok.labels == [1, 2, 9])
    #expect(try ok.image(at: 1).0.pixels == [4, 5, 6, 7])
    #expect(ok.source(at: 2) == images + "#2")

    let cases: [(String, [UInt8], String)] = [
      ("bad-magic", idx(2049, [3, 2, 2], Array(0..<12)), "images"),
      ("truncated", idx(2051, [3, 2, 2], Array(0..<11)), "images"),
      ("short-header", [0, 0, 8, 3, 0], "images"),
      ("label-range", idx(2049, [3], [1, 10, 2]), "labels"),
      ("count-mismatch", idx(2049, [2], [1, 2]), "labels"),
    ]
    for (name, bytes, which) in cases {
      let path = dir + "/" + name
      try writeBytes(bytes, to: path)
      let error = which == "images" ? dataError { _ = try MNIST(images: path, labels: labels) }
                                    : dataError { _ = try MNIST(images: images, labels: path) }
      #expect(error?.source.hasPrefix(path) == true, "\(name): \(String(describing: error))")
    }
  }

  @Test(.enabled(if: TestData.hasMNIST, TestData.skipMNIST))
  func truncatedGzipIsAnError() throws {
    let dir = TestData.temporaryDirectory("gzip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let bytes = try Data(contentsOf: URL(fileURLWithPath: TestData.path("data/mnist/t10k-labels-idx1-ubyte.gz")))
    let cut = dir + "/labels.gz"
    try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: cut))
    let error = dataError { _ = try MNIST(images: TestData.path("data/mnist/t10k-images-idx3-ubyte.gz"), labels: cut) }
    #expect(error?.source == cut, "\(String(describing: error))")
  }

  @Test func cifarBinaryRoundTrip() throws {
    let dir = TestData.temporaryDirectory("cifarbin")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let images = (0..<5).map { patternImage(width: 32, height: 32, seed: $0) }
    let first = images.prefix(3).enumerated().flatMap { CIFAR10Binary.record($1, label: $0 + 4) }
    let second = images.suffix(2).enumerated().flatMap { CIFAR10Binary.record($1, label: $0) }
    try writeBytes(first, to: dir + "/a.bin")
    try writeBytes(second, to: dir + "/b.bin")
    let source = try CIFAR10Binary(files: [dir + "/a.bin", dir + "/b.bin"])
    #expect(source.count == 5)
    #expect(try (0..<5).map { try source.image(at: $0).label } == [4, 5, 6, 0, 1])
    for i in 0..<5 { #expect(try source.image(at: i).0 == images[i]) }
    #expect(source.source(at: 3) == dir + "/b.bin#0")
    // The R plane comes first in the record.
    #expect(first[1] == images[0].pixels[0] && first[1 + 1024] == images[0].pixels[1])

    try writeBytes(Array(first.dropLast()), to: dir + "/short.bin")
    #expect(dataError { _ = try CIFAR10Binary(files: [dir + "/short.bin"]) }?.source == dir + "/short.bin")
    var badLabel = first
    badLabel[CIFAR10Binary.recordSize] = 11
    try writeBytes(badLabel, to: dir + "/label.bin")
    #expect(dataError { _ = try CIFAR10Binary(files: [dir + "/label.bin"]) }?.source == dir + "/label.bin#1")
  }

  @Test func hdf5TensorDatasetRejectsNaN() throws {
    let dir = TestData.temporaryDirectory("h5data")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/data.h5"
    let file = try HDF5File(path: path, mode: .create)
    var values = (0..<24).map(Float.init)
    values[13] = .nan
    try file.write("x", shape: [4, 2, 3], values: values)
    try file.write("y", shape: [4], values: [Int64(0), 2, 1, 2])
    try file.write("short", shape: [3], values: [Int64(0), 1, 2])
    try file.close()
    let dataset = try HDF5TensorDataset(path: path)
    #expect(dataset.count == 4 && dataset.sampleShape == [2, 3] && dataset.classNames == ["0", "1", "2"])
    var rng = RandomGenerator(seed: 0)
    let sample = try dataset.sample(at: 1, rng: &rng)
    #expect(sample.tensor.scalars == [6, 7, 8, 9, 10, 11] && sample.label == 2)
    let error = dataError { _ = try dataset.sample(at: 2, rng: &rng) }
    #expect(error?.source == path + ":x#2")
    #expect(dataError { _ = try HDF5TensorDataset(path: path, labels: "short") }?.source == path + ":short")
    #expect(dataError { _ = try HDF5TensorDataset(path: path, data: "missing") }?.source == path)
  }
}
