/// MNIST-style IDX files: IDX3 images (magic 2051, uint8 [n, rows, cols]) and IDX1 labels (magic 2049,
/// uint8 [n], values 0–9), plain or gzip-compressed. Both files are read completely at init and
/// checked: magic numbers, dimensions, exact sizes (truncation or trailing bytes), label range, and
/// that both files hold the same number of items.
public struct MNIST: ImageSource {
  public let imagesPath: String
  public let labelsPath: String
  public let rows: Int
  public let columns: Int
  public let count: Int
  public let classNames: [String] = (0...9).map(String.init)
  private let pixels: [UInt8]
  private let labelBytes: [UInt8]

  public init(images: String, labels: String) throws {
    let imageBytes = try BinaryFile.readMaybeGzip(images)
    let labelBytes = try BinaryFile.readMaybeGzip(labels)
    let imageHeader = try Self.header(imageBytes, path: images, magic: 2051, dimensions: 3)
    let labelHeader = try Self.header(labelBytes, path: labels, magic: 2049, dimensions: 1)
    let (n, rows, columns) = (imageHeader[0], imageHeader[1], imageHeader[2])
    guard rows > 0, columns > 0 else { throw DataError(source: images, "invalid image size \(rows)x\(columns)") }
    try Self.checkSize(imageBytes.count, expected: 16 + n * rows * columns, path: images,
                       what: "\(n) images of \(rows)x\(columns)")
    try Self.checkSize(labelBytes.count, expected: 8 + labelHeader[0], path: labels, what: "\(labelHeader[0]) labels")
    guard labelHeader[0] == n else {
      throw DataError(source: labels, "\(labelHeader[0]) labels, but \(images) holds \(n) images")
    }
    if let bad = labelBytes[8...].firstIndex(where: { $0 > 9 }) {
      throw DataError(source: "\(labels)#\(bad - 8)", "label \(labelBytes[bad]) outside 0...9")
    }
    self.imagesPath = images
    self.labelsPath = labels
    self.rows = rows
    self.columns = columns
    self.count = n
    self.pixels = Array(imageBytes[16...])
    self.labelBytes = Array(labelBytes[8...])
  }

  public func image(at index: Int) throws -> (Image, label: Int) {
    precondition(index >= 0 && index < count, "MNIST: index \(index) out of range 0..<\(count)")
    let size = rows * columns
    let image = Image(width: columns, height: rows, channels: 1, pixels: Array(pixels[(index * size)..<((index + 1) * size)]))
    return (image, Int(labelBytes[index]))
  }

  public func source(at index: Int) -> String { "\(imagesPath)#\(index)" }

  /// All labels in file order.
  public var labels: [Int] { labelBytes.map(Int.init) }

  /// The big-endian dimension sizes that follow the 4-byte magic number.
  static func header(_ bytes: [UInt8], path: String, magic: Int, dimensions: Int) throws -> [Int] {
    let length = 4 + 4 * dimensions
    guard bytes.count >= length else {
      throw DataError(source: path, "truncated IDX header: \(bytes.count) bytes, expected at least \(length)")
    }
    let found = bigEndian(bytes, at: 0)
    guard found == magic else {
      throw DataError(source: path, "IDX magic number \(found), expected \(magic)")
    }
    return (0..<dimensions).map { bigEndian(bytes, at: 4 + 4 * $0) }
  }

  static func checkSize(_ size: Int, expected: Int, path: String, what: String) throws {
    if size < expected {
      throw DataError(source: path, "truncated: \(size) bytes, expected \(expected) for \(what)")
    }
    if size > expected {
      throw DataError(source: path, "\(size - expected) unexpected trailing bytes after \(what)")
    }
  }

  static func bigEndian(_ b: [UInt8], at i: Int) -> Int {
    Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
  }
}
