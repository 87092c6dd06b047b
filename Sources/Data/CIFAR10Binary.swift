/// The CIFAR-10 binary batch format (`data_batch_*.bin`, `test_batch.bin`): records of 1 label byte
/// followed by 3,072 pixel bytes (32×32 planes of R, then G, then B). Several files are concatenated
/// in the order given. Every file is read completely at init; a size that is not a multiple of 3,073
/// or a label outside 0–9 is an error naming the file (and record).
public struct CIFAR10Binary: ImageSource {
  public static let recordSize = 1 + 3 * 32 * 32
  public static let standardClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                          "dog", "frog", "horse", "ship", "truck"]
  public let files: [String]
  public let classNames: [String] = CIFAR10Binary.standardClassNames
  public let count: Int
  private let contents: [[UInt8]]
  /// Index of the first record of each file.
  private let starts: [Int]

  public init(files: [String]) throws {
    guard !files.isEmpty else { throw DataError(source: "CIFAR10Binary", "no files given") }
    var contents: [[UInt8]] = []
    var starts: [Int] = []
    var total = 0
    for path in files {
      let bytes = try BinaryFile.read(path)
      guard !bytes.isEmpty, bytes.count % Self.recordSize == 0 else {
        throw DataError(source: path, "size \(bytes.count) bytes is not a positive multiple of the record size \(Self.recordSize)")
      }
      for record in 0..<(bytes.count / Self.recordSize) where bytes[record * Self.recordSize] > 9 {
        throw DataError(source: "\(path)#\(record)", "label \(bytes[record * Self.recordSize]) outside 0...9")
      }
      starts.append(total)
      total += bytes.count / Self.recordSize
      contents.append(bytes)
    }
    self.files = files
    self.contents = contents
    self.starts = starts
    self.count = total
  }

  public func image(at index: Int) throws -> (Image, label: Int) {
    let (file, record) = locate(index)
    let base = record * Self.recordSize
    let bytes = contents[file]
    var pixels = [UInt8](repeating: 0, count: 3 * 1024)
    for c in 0..<3 {
      for p in 0..<1024 { pixels[3 * p + c] = bytes[base + 1 + c * 1024 + p] }
    }
    return (Image(width: 32, height: 32, channels: 3, pixels: pixels), Int(bytes[base]))
  }

  public func source(at index: Int) -> String {
    let (file, record) = locate(index)
    return "\(files[file])#\(record)"
  }

  /// (file number, record within the file) of a global index.
  private func locate(_ index: Int) -> (Int, Int) {
    precondition(index >= 0 && index < count, "CIFAR10Binary: index \(index) out of range 0..<\(count)")
    var file = starts.count - 1
    while starts[file] > index { file -= 1 }
    return (file, index - starts[file])
  }

  /// The binary record of an RGB 32×32 image and its label (the inverse of `image(at:)`), for writing
  /// files in this format.
  public static func record(_ image: Image, label: Int) -> [UInt8] {
    precondition(image.width == 32 && image.height == 32 && image.channels == 3, "CIFAR10Binary.record: need a 32x32 RGB image")
    precondition((0...255).contains(label), "CIFAR10Binary.record: label \(label) does not fit a byte")
    var out = [UInt8](repeating: 0, count: recordSize)
    out[0] = UInt8(label)
    for c in 0..<3 {
      for p in 0..<1024 { out[1 + c * 1024 + p] = image.pixels[3 * p + c] }
    }
    return out
  }
}
