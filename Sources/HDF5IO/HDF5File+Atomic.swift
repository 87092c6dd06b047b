import Foundation

extension HDF5File {
  /// Writes through `body` into "<path>.tmp-<pid>", then renames onto path (a failure leaves no
  /// half-written file).
  public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
    let tmp = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)"
    do {
      let file = try HDF5File(path: tmp, mode: .create)
      try body(file)
      try file.close()
      if rename(tmp, path) != 0 { throw HDF5Error(file: path, "cannot rename \(tmp) onto it") }
    } catch {
      unlink(tmp)
      throw error
    }
  }
}
