import Foundation

/// Location of the shared data (CIFAR-10 JPEGs, MNIST, pretrained models): `QAT_DATA` if set,
/// otherwise `../shared` next to the repository. Tests that need it are skipped when it is absent.
public enum TestData {
  public static let root: String = {
    if let env = ProcessInfo.processInfo.environment["QAT_DATA"], !env.isEmpty { return env }
    // Tests/TestSupport/TestData.swift -> repository root -> ../shared
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return repo.deletingLastPathComponent().appendingPathComponent("shared").path
  }()

  public static func path(_ relative: String) -> String { root + "/" + relative }
  public static func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path(relative)) }

  public static var hasModels: Bool { exists("models/resnet20.h5") && exists("models/resnet20_reference.h5") }
  public static var hasCIFAR: Bool { exists("data/cifar10/test/airplane/0000.jpg") }
  public static var hasMNIST: Bool { exists("data/mnist/t10k-images-idx3-ubyte.gz") }

  public static let skipModels = Comment(rawValue: "skipped: \(root)/models not found (set QAT_DATA to the shared data root)")
  public static let skipCIFAR = Comment(rawValue: "skipped: \(root)/data/cifar10 not found (set QAT_DATA to the shared data root)")
  public static let skipMNIST = Comment(rawValue: "skipped: \(root)/data/mnist not found (set QAT_DATA to the shared data root)")

  /// A fresh temporary directory for one test.
  public static func temporaryDirectory(_ tag: String = "qat-test") -> String {
    let dir = NSTemporaryDirectory() + "\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }
}

import Testing
