import Datasets
import Foundation
import TensorCore

/// Where calibration images come from, under the xfDNN quantizer's option names:
/// `calibration_directory` with `calibration_size` + `calibration_seed` or `calibration_indices`,
/// or a list file (`--calibration-list`). The directory may hold class subfolders or images.
public struct CalibrationData {
  public var directory: String?
  public var listFile: String?
  public var size: Int?
  public var seed: UInt64?
  public var indices: [Int]?

  public init(directory: String? = nil, listFile: String? = nil, size: Int? = nil, seed: UInt64? = nil, indices: [Int]? = nil) {
    self.directory = directory
    self.listFile = listFile
    self.size = size
    self.seed = seed
    self.indices = indices
  }

  /// The selected images, in selection order. Contradictory options throw.
  public func source() throws -> any ImageSource {
    switch (directory, listFile) {
    case (nil, nil): throw DataError(source: "calibration", "give --calibration-directory or --calibration-list")
    case (.some, .some): throw DataError(source: "calibration", "--calibration-directory and --calibration-list are mutually exclusive")
    case (nil, let list?):
      if size != nil || seed != nil || indices != nil {
        throw DataError(source: list, "--calibration-list takes exactly the listed images; drop --calibration-size/-seed/-indices")
      }
      return try ImageList(listFile: list, channels: .rgb)
    case (let dir?, nil):
      let all = try Self.directorySource(dir)
      if size == nil && seed == nil && indices == nil { return all }  // the whole directory
      let selection = try CalibrationSelection(size: size, seed: seed ?? (indices == nil ? 0 : nil), indices: indices,
                                               datasetCount: all.count)
      return try ImageSubset(all, indices: selection.indices)
    }
  }

  /// Class subfolders (ImageFolder) or, when there are none, the images directly inside (sorted).
  static func directorySource(_ dir: String) throws -> any ImageSource {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
      throw DataError(source: dir, "calibration directory does not exist")
    }
    let entries: [String]
    do { entries = try fm.contentsOfDirectory(atPath: dir) } catch {
      throw DataError(source: dir, "cannot list the calibration directory (\(error.localizedDescription))")
    }
    let hasSubfolders = entries.contains { e in
      var d: ObjCBool = false
      return fm.fileExists(atPath: dir + "/" + e, isDirectory: &d) && d.boolValue
    }
    if hasSubfolders { return try ImageFolder(root: dir, channels: .rgb) }
    let files = entries.filter { ImageFolder.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    guard !files.isEmpty else { throw DataError(source: dir, "no images (.jpg, .jpeg, .png) in the calibration directory") }
    return try ImageList(files: files.map { dir + "/" + $0 }, channels: .rgb)
  }

  /// A loader over the selected images in selection order (no augmentation).
  public func loader(preprocessing: Preprocessing, batchSize: Int = 128) throws -> DataLoader {
    let pipeline = try ImagePipeline(source: try source(), preprocessing: preprocessing)
    return DataLoader(dataset: pipeline, batchSize: batchSize, shuffle: false, seed: 0, workers: 2)
  }
}
