import Datasets
import Foundation
import Testing
import TestSupport

@Suite struct CalibrationTests {
  @Test func selectionBySeedOrIndices() throws {
    let a = try CalibrationSelection.random(size: 32, seed: 5, datasetCount: 1000)
    let b = try CalibrationSelection(size: 32, seed: 5, datasetCount: 1000)
    #expect(a == b && a.indices.count == 32 && Set(a.indices).count == 32)
    #expect(a.indices.allSatisfy { (0..<1000).contains($0) })
    #expect(try CalibrationSelection.random(size: 32, seed: 6, datasetCount: 1000) != a)
    let full = try CalibrationSelection.random(size: 10, seed: 1, datasetCount: 10)
    #expect(full.indices.sorted() == Array(0..<10))
    let explicit = try CalibrationSelection(size: 3, indices: [9, 0, 4], datasetCount: 10)
    #expect(explicit.indices == [9, 0, 4])

    let subset = try explicit.subset(of: SyntheticImages(count: 10))
    #expect(subset.count == 3 && subset.source(at: 0) == "synthetic#9")
    #expect(try subset.image(at: 2).label == 0)
  }

  @Test func selectionErrors() {
    let bad: [() throws -> CalibrationSelection] = [
      { try CalibrationSelection(size: 4, seed: 1, indices: [0, 1, 2, 3], datasetCount: 10) },  // both
      { try CalibrationSelection(size: 4, datasetCount: 10) },  // neither
      { try CalibrationSelection(seed: 1, datasetCount: 10) },  // seed without size
      { try CalibrationSelection(size: 11, seed: 1, datasetCount: 10) },
      { try CalibrationSelection(size: 0, seed: 1, datasetCount: 10) },
      { try CalibrationSelection.explicit([1, 10], datasetCount: 10) },
      { try CalibrationSelection.explicit([-1], datasetCount: 10) },
      { try CalibrationSelection.explicit([3, 1, 3], datasetCount: 10) },
      { try CalibrationSelection.explicit([], datasetCount: 10) },
      { try CalibrationSelection(size: 2, indices: [1, 2, 3], datasetCount: 10) },
    ]
    for (i, make) in bad.enumerated() {
      let error = dataError { _ = try make() }
      #expect(error?.source == "CalibrationSelection", "case \(i)")
    }
  }

  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR))
  func parsesTheSharedCalibrationList() throws {
    let listFile = TestData.path("data/cifar10_calibration_512.txt")
    let list = try ImageList(listFile: listFile)
    #expect(list.count == 512)
    #expect(list.files[0] == TestData.path("data/cifar10/train/dog/0461.jpg") && list.labels[0] == 5)
    var counts = [Int](repeating: 0, count: 10)
    for label in list.labels { counts[label] += 1 }
    #expect(counts == [46, 51, 49, 54, 51, 60, 62, 47, 45, 47])
    #expect(Set(list.files).count == 512)
    // Labels agree with the class folder (airplane = 0 ... truck = 9).
    let classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for (file, label) in zip(list.files, list.labels) {
      #expect(URL(fileURLWithPath: file).deletingLastPathComponent().lastPathComponent == classes[label])
    }
    let (image, label) = try list.image(at: 0)
    #expect(label == 5 && image.width == 32 && image.channels == 3)

    // Every listed file is in the 50,000-image training folder, with the folder's label.
    let start = Date()
    let train = try ImageFolder(root: TestData.path("data/cifar10/train"))
    print("ImageFolder listed \(train.count) training files in \(Int(Date().timeIntervalSince(start) * 1000)) ms")
    #expect(train.count == 50_000)
    let position = Dictionary(uniqueKeysWithValues: train.files.enumerated().map { ($1, $0) })
    for (file, label) in zip(list.files, list.labels) {
      let index = try #require(position[file])
      #expect(train.labels[index] == label)
    }
  }

  @Test func listFileFormatAndErrors() throws {
    let dir = TestData.temporaryDirectory("list")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir + "/img", withIntermediateDirectories: true)
    for name in ["a", "b"] { try writeBytes(try ImageEncoder.png(patternImage(width: 4, height: 4)), to: dir + "/img/\(name).png") }
    func list(_ text: String) throws -> ImageList {
      try writeBytes(Array(text.utf8), to: dir + "/list.txt")
      return try ImageList(listFile: dir + "/list.txt")
    }
    let unlabeled = try list("img/b.png\nimg/a.png\n\n")
    #expect(unlabeled.files == [dir + "/img/b.png", dir + "/img/a.png"] && unlabeled.labels == [-1, -1])
    let labeled = try list("img/a.png\t3\r\n\(dir)/img/b.png\t0\n")
    #expect(labeled.labels == [3, 0] && labeled.classNames.count == 4)
    #expect(dataError { _ = try list("img/a.png\t3\nimg/missing.png\t1\n") }?.source == dir + "/list.txt:2")
    #expect(dataError { _ = try list("img/a.png\tcat\n") }?.source == dir + "/list.txt:1")
    #expect(dataError { _ = try list("img/a.png\t1\nimg/b.png\n") }?.source == dir + "/list.txt:2")
    #expect(dataError { _ = try list("\n\n") }?.source == dir + "/list.txt")
  }
}
