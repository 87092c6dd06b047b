import Foundation

/// A file that could not be written or renamed into place.
public struct FileWriteError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Writes data to a temporary file next to path and renames it into place, so a failure never
/// leaves half a file.
public func writeFileAtomically(_ path: String, _ data: Data) throws {
  let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
  do {
    try data.write(to: URL(fileURLWithPath: tmp))
    if rename(tmp, path) != 0 { throw FileWriteError("\(path): cannot rename \(tmp) into place") }
  } catch {
    unlink(tmp)
    throw error
  }
}
