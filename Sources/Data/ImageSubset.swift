/// A view of selected images of another source, in the order of `indices` (for example a
/// calibration subset from `CalibrationSelection`).
public struct ImageSubset: ImageSource {
  public let base: any ImageSource
  public let indices: [Int]

  /// Indices must lie in 0..<base.count (checked: out-of-range indices throw).
  public init(_ base: any ImageSource, indices: [Int]) throws {
    if let bad = indices.first(where: { $0 < 0 || $0 >= base.count }) {
      throw DataError(source: "ImageSubset", "index \(bad) outside 0..<\(base.count)")
    }
    self.base = base
    self.indices = indices
  }

  public var count: Int { indices.count }
  public var classNames: [String] { base.classNames }
  public func image(at index: Int) throws -> (Image, label: Int) { try base.image(at: indices[index]) }
  public func source(at index: Int) -> String { base.source(at: indices[index]) }
}
