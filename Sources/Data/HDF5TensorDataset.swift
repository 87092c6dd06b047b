import HDF5IO
import TensorCore

/// Float tensors stored in an HDF5 file: dataset `data` of shape [N, ...] (one sample per row along
/// axis 0, converted to Float32 on read) and dataset `labels` of N integers ≥ 0. Both are read
/// completely at init. A sample containing NaN or infinity throws a `DataError` naming the file, the
/// dataset and the index when it is requested.
public struct HDF5TensorDataset: Dataset {
  public let path: String
  public let dataName: String
  public let labelsName: String
  public let sampleShape: Shape
  public let classNames: [String]
  public let count: Int
  private let values: [Float]
  private let labels: [Int]

  /// `classNames` defaults to "0", "1", ... up to the largest label.
  public init(path: String, data: String = "x", labels: String = "y", classNames: [String]? = nil) throws {
    let (dataShape, values, labelShape, labelValues): ([Int], [Float], [Int], [Int64])
    do {
      let file = try HDF5File(path: path, mode: .read)
      (dataShape, values) = try file.read(data, as: Float.self)
      (labelShape, labelValues) = try file.read(labels, as: Int64.self)
      try file.close()
    } catch let error as HDF5Error {
      throw DataError(source: path, error.description)
    }
    guard let n = dataShape.first else {
      throw DataError(source: "\(path):\(data)", "expected a dataset of rank ≥ 1 (samples along axis 0), found a scalar")
    }
    guard labelShape.count == 1, labelShape[0] == n else {
      throw DataError(source: "\(path):\(labels)", "expected \(n) labels (shape [\(n)]) to match \(data) \(dataShape), found shape \(labelShape)")
    }
    if let bad = labelValues.firstIndex(where: { $0 < 0 || $0 > Int64(Int32.max) }) {
      throw DataError(source: "\(path):\(labels)#\(bad)", "label \(labelValues[bad]) is negative or too large")
    }
    let ints = labelValues.map { Int($0) }
    let classCount = (ints.max() ?? -1) + 1
    if let classNames, classNames.count < classCount {
      throw DataError(source: "\(path):\(labels)", "labels go up to \(classCount - 1) but only \(classNames.count) class names were given")
    }
    self.path = path
    self.dataName = data
    self.labelsName = labels
    self.sampleShape = Shape(Array(dataShape.dropFirst()))
    self.classNames = classNames ?? (0..<classCount).map(String.init)
    self.count = n
    self.values = values
    self.labels = ints
  }

  public func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample {
    precondition(index >= 0 && index < count, "HDF5TensorDataset: index \(index) out of range 0..<\(count)")
    let size = sampleShape.count
    let slice = values[(index * size)..<((index + 1) * size)]
    if let bad = slice.firstIndex(where: { !$0.isFinite }) {
      throw DataError(source: source(at: index), "\(slice[bad]) at element \(bad - index * size) of the sample (expected finite values)")
    }
    return Sample(tensor: Tensor(Array(slice), shape: sampleShape), label: labels[index])
  }

  public func source(at index: Int) -> String { "\(path):\(dataName)#\(index)" }
}
