import TensorCore

/// Which samples of a dataset calibrate a quantizer, with the xfDNN quantizer's options:
/// `calibration_size` + `calibration_seed` (a random subset without replacement) or
/// `calibration_indices` (explicit; mutually exclusive with the seed).
public struct CalibrationSelection: Sendable, Equatable {
  /// Selected dataset indices, in selection order.
  public let indices: [Int]

  /// Checks the options against a dataset of `datasetCount` items:
  /// - `seed` (with `size`): the first `size` entries of `RandomGenerator(seed:).permutation(datasetCount)`;
  /// - `indices`: exactly those, in that order (`size`, if also given, must equal their count).
  /// Giving both a seed and indices, or neither, out-of-range or duplicate indices, or a size outside
  /// 1...datasetCount throws a `DataError`.
  public init(size: Int? = nil, seed: UInt64? = nil, indices: [Int]? = nil, datasetCount: Int) throws {
    func fail(_ message: String) -> DataError { DataError(source: "CalibrationSelection", message) }
    switch (seed, indices) {
    case (.some, .some):
      throw fail("calibration seed and calibration indices are mutually exclusive; give one")
    case (nil, nil):
      throw fail("give either a calibration seed (with a size) or calibration indices")
    case (let seed?, nil):
      guard let size else { throw fail("a calibration seed needs a calibration size") }
      guard size > 0 && size <= datasetCount else {
        throw fail("calibration size \(size) outside 1...\(datasetCount) (the dataset size)")
      }
      var rng = RandomGenerator(seed: seed)
      self.indices = Array(rng.permutation(datasetCount).prefix(size))
    case (nil, let indices?):
      guard !indices.isEmpty else { throw fail("calibration indices are empty") }
      if let size, size != indices.count {
        throw fail("calibration size \(size) differs from the \(indices.count) calibration indices")
      }
      if let bad = indices.first(where: { $0 < 0 || $0 >= datasetCount }) {
        throw fail("calibration index \(bad) outside 0..<\(datasetCount)")
      }
      var seen = Set<Int>()
      if let duplicate = indices.first(where: { !seen.insert($0).inserted }) {
        throw fail("calibration index \(duplicate) appears more than once")
      }
      self.indices = indices
    }
  }

  /// A random subset of `size` items chosen with `seed`.
  public static func random(size: Int, seed: UInt64, datasetCount: Int) throws -> CalibrationSelection {
    try CalibrationSelection(size: size, seed: seed, datasetCount: datasetCount)
  }

  /// Exactly the given indices.
  public static func explicit(_ indices: [Int], datasetCount: Int) throws -> CalibrationSelection {
    try CalibrationSelection(indices: indices, datasetCount: datasetCount)
  }

  /// The selected images of `source`, in selection order.
  public func subset(of source: any ImageSource) throws -> ImageSubset {
    try ImageSubset(source, indices: indices)
  }
}
