import Foundation

/// An explicit list of image files with optional labels (-1 when unknown), in the given order.
public struct ImageList: ImageSource {
  public let files: [String]
  public let labels: [Int]
  public let classNames: [String]
  public let channels: ChannelMode

  /// `labels` must be nil (all unknown) or one per file; `classNames` defaults to "0", "1", ... up to
  /// the largest label.
  public init(files: [String], labels: [Int]? = nil, classNames: [String]? = nil, channels: ChannelMode = .asStored) throws {
    guard !files.isEmpty else { throw DataError(source: "ImageList", "no files given") }
    let labels = labels ?? Array(repeating: -1, count: files.count)
    guard labels.count == files.count else {
      throw DataError(source: "ImageList", "\(labels.count) labels for \(files.count) files")
    }
    if let bad = labels.firstIndex(where: { $0 < -1 }) {
      throw DataError(source: files[bad], "label \(labels[bad]) is negative (use -1 for unknown)")
    }
    let classCount = (labels.max() ?? -1) + 1
    if let classNames, classNames.count < classCount {
      throw DataError(source: "ImageList", "labels go up to \(classCount - 1) but only \(classNames.count) class names were given")
    }
    self.files = files
    self.labels = labels
    self.classNames = classNames ?? (0..<classCount).map(String.init)
    self.channels = channels
  }

  /// Reads a list file: one image per line, `<path>` or `<path>\t<label>`, paths relative to the list
  /// file's folder unless absolute. Blank lines are ignored. Either every line has a label or none
  /// does. Every listed file must exist; errors name the list file and line.
  public init(listFile: String, classNames: [String]? = nil, channels: ChannelMode = .asStored) throws {
    let bytes = try BinaryFile.read(listFile)
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw DataError(source: listFile, "not valid UTF-8 text")
    }
    let folder = (listFile as NSString).deletingLastPathComponent
    var files: [String] = []
    var labels: [Int] = []
    // Character-wise newlines: "\r\n" is one Character in Swift and counts as one line break.
    for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
      if line.allSatisfy(\.isWhitespace) { continue }
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
      let at = "\(listFile):\(number + 1)"
      guard fields.count <= 2, !fields[0].isEmpty else {
        throw DataError(source: at, "expected `<path>` or `<path>\\t<label>`, found \"\(line)\"")
      }
      let relative = String(fields[0])
      let path = relative.hasPrefix("/") || folder.isEmpty ? relative : folder + "/" + relative
      guard FileManager.default.fileExists(atPath: path) else { throw DataError(source: at, "listed file \(path) does not exist") }
      if fields.count == 2 {
        guard let label = Int(fields[1]), label >= 0 else {
          throw DataError(source: at, "label \"\(fields[1])\" is not a non-negative integer")
        }
        labels.append(label)
      }
      guard labels.isEmpty || labels.count == files.count + 1 else {
        throw DataError(source: at, "some lines have labels and others do not")
      }
      files.append(path)
    }
    guard !files.isEmpty else { throw DataError(source: listFile, "the list contains no files") }
    try self.init(files: files, labels: labels.isEmpty ? nil : labels, classNames: classNames, channels: channels)
  }

  public var count: Int { files.count }

  public func image(at index: Int) throws -> (Image, label: Int) {
    precondition(index >= 0 && index < files.count, "ImageList: index \(index) out of range 0..<\(files.count)")
    return (try ImageDecoder.decodeFile(files[index], channels: channels), labels[index])
  }

  public func source(at index: Int) -> String { files[index] }
}
