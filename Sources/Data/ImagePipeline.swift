import TensorCore

/// A `Dataset` made of an `ImageSource`, an optional random `Augmentation` (applied to the 8-bit image)
/// and a `Preprocessing` (8-bit image → float tensor).
public struct ImagePipeline: Dataset {
  public let source: any ImageSource
  public let augmentation: Augmentation?
  public let preprocessing: Preprocessing
  /// Preprocessing lookup tables for 1- and 3-channel images (when the options fit), built once.
  private let tables: [Int: [Float]]

  /// Throws a `DataError` when the options contradict each other.
  public init(source: any ImageSource, augmentation: Augmentation? = nil, preprocessing: Preprocessing) throws {
    try augmentation?.validate()
    try preprocessing.validate()
    self.source = source
    self.augmentation = augmentation
    self.preprocessing = preprocessing
    var tables: [Int: [Float]] = [:]
    for c in [1, 3] where preprocessing.mismatch(channels: c) == nil { tables[c] = preprocessing.lookupTables(channels: c) }
    self.tables = tables
  }

  public var count: Int { source.count }
  public var classNames: [String] { source.classNames }

  public func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample {
    var (image, label) = try source.image(at: index)
    if let augmentation {
      image = try augmentation.apply(image, rng: &rng, source: source.source(at: index))
    }
    let tensor = try preprocessing.apply(image, source: source.source(at: index), tables: tables[image.channels])
    return Sample(tensor: tensor, label: label)
  }

  public func source(at index: Int) -> String { source.source(at: index) }
}
