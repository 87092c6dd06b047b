import Datasets
import Foundation

/// Image-folder datasets (the CIFAR-10 JPEG folders by default) with the pretrained ResNet-20's
/// preprocessing unless another is given.
public enum CIFARData {
  /// Test-time data: canonical order, no augmentation, optionally only the first `limit` images.
  public static func evaluationLoader(directory: String, limit: Int? = nil, batchSize: Int = 256,
                                      workers: Int = 2, preprocessing: Preprocessing = .cifarResNet20) throws -> DataLoader {
    var source: any ImageSource = try ImageFolder(root: directory, channels: preprocessing.channelMode)
    if let limit {
      guard limit > 0 else { throw DataError(source: directory, "--limit must be positive, got \(limit)") }
      source = try ImageSubset(source, indices: Array(0..<min(limit, source.count)))
    }
    let pipeline = try ImagePipeline(source: source, preprocessing: preprocessing)
    return DataLoader(dataset: pipeline, batchSize: batchSize, shuffle: false, seed: 0, workers: workers)
  }

  /// Training data: random crop (pad 4) and horizontal flip, shuffled per epoch from `seed`.
  public static func trainingLoader(directory: String, batchSize: Int = 128, seed: UInt64, augmentation: Augmentation? = .cifar,
                                    workers: Int = 2, preprocessing: Preprocessing = .cifarResNet20) throws -> DataLoader {
    let source = try ImageFolder(root: directory, channels: preprocessing.channelMode)
    let pipeline = try ImagePipeline(source: source, augmentation: augmentation, preprocessing: preprocessing)
    return DataLoader(dataset: pipeline, batchSize: batchSize, shuffle: true, seed: seed, dropLast: false, workers: workers)
  }
}
