import Foundation

/// Images stored as `root/<class>/<file>`, one subfolder per class (torchvision's ImageFolder layout).
///
/// Class folders are sorted by name and numbered from 0; the files of each class are sorted by name.
/// This is the canonical order of the shared CIFAR-10 JPEGs: test index `i` is
/// `test/<classes[i / 1000]>/<i % 1000 as 4 digits>.jpg`. Files with the extensions .jpg, .jpeg or .png
/// (any case) are listed; hidden entries (starting with ".") and other files are ignored.
/// A missing or empty root, and a class folder without images, are errors.
public struct ImageFolder: ImageSource {
  public let root: String
  public let classNames: [String]
  public let files: [String]
  public let labels: [Int]
  public let channels: ChannelMode

  public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

  public init(root: String, channels: ChannelMode = .asStored) throws {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError(source: root, "image folder root does not exist or is not a directory")
    }
    let entries = try Self.listing(root)
    let classes = entries.filter { name in
      var dir: ObjCBool = false
      return fm.fileExists(atPath: root + "/" + name, isDirectory: &dir) && dir.boolValue
    }
    guard !classes.isEmpty else {
      throw DataError(source: root, "no class subfolders found (expected root/<class>/<image files>)")
    }
    var files: [String] = []
    var labels: [Int] = []
    for (label, name) in classes.enumerated() {
      let folder = root + "/" + name
      let images = try Self.listing(folder).filter { Self.isImageName($0) }
      guard !images.isEmpty else { throw DataError(source: folder, "class folder contains no .jpg/.jpeg/.png files") }
      files += images.map { folder + "/" + $0 }
      labels += Array(repeating: label, count: images.count)
    }
    self.root = root
    self.classNames = classes
    self.files = files
    self.labels = labels
    self.channels = channels
  }

  public var count: Int { files.count }

  public func image(at index: Int) throws -> (Image, label: Int) {
    precondition(index >= 0 && index < files.count, "ImageFolder: index \(index) out of range 0..<\(files.count)")
    return (try ImageDecoder.decodeFile(files[index], channels: channels), labels[index])
  }

  public func source(at index: Int) -> String { files[index] }

  /// Sorted names of the non-hidden entries of a directory.
  static func listing(_ path: String) throws -> [String] {
    do {
      return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
    } catch {
      throw DataError(source: path, "cannot list directory: \(error.localizedDescription)")
    }
  }

  static func isImageName(_ name: String) -> Bool {
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
    return imageExtensions.contains(name[name.index(after: dot)...].lowercased())
  }
}
