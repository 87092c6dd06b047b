import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates a directory and its parents; errors name the path and the system's reason.
public func createDirectory(_ path: String) throws {
  if let reason = makeDirectories(path) { throw FileWriteError("\(path): cannot create the directory (\(reason))") }
}

/// mkdir -p: nil, or the system's reason for the first level that failed.
func makeDirectories(_ path: String) -> String? {
  var isDirectory: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return isDirectory.boolValue ? nil : "a file is in the way" }
  let parent = (path as NSString).deletingLastPathComponent
  if !parent.isEmpty && parent != path, let reason = makeDirectories(parent) { return reason }
  if mkdir(path, 0o755) != 0 && errno != EEXIST { return String(cString: strerror(errno)) }
  return nil
}

/// Writes a directory of files as one unit: `body` fills a temporary sibling directory, which then
/// replaces `path` in one atomic exchange (renameat2 RENAME_EXCHANGE), so a reader, or a process
/// killed at any point, sees the complete old directory or the complete new one, never a mix.
/// Where the file system cannot exchange, the old directory is renamed aside first (a kill in
/// that instant leaves no directory, which loads as an error, not as a mix).
///
/// An existing `path` may hold only files `owns` accepts (the files this kind of directory is
/// made of) and leftovers of interrupted writes; anything else is an error naming it, so a
/// directory of the user's is never replaced.
public func writeDirectoryAtomically(_ path: String, owns: (String) -> Bool, _ body: (String) throws -> Void) throws {
  let target = URL(fileURLWithPath: path).standardizedFileURL.path
  let name = (target as NSString).lastPathComponent
  let parent = (target as NSString).deletingLastPathComponent
  guard !name.isEmpty, name != "/", name != ".", name != ".." else { throw FileWriteError("\(path): not a directory name to write") }
  var isDirectory: ObjCBool = false
  let exists = FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory)
  if exists {
    guard isDirectory.boolValue else { throw FileWriteError("\(path): exists and is not a directory") }
    let foreign = try FileManager.default.contentsOfDirectory(atPath: target).filter { entry in
      var sub: ObjCBool = false
      _ = FileManager.default.fileExists(atPath: target + "/" + entry, isDirectory: &sub)
      return sub.boolValue || !(owns(entry) || isInterruptedWrite(entry))
    }
    guard foreign.isEmpty else {
      throw FileWriteError("\(path): holds \(foreign.sorted().prefix(5).joined(separator: ", "))\(foreign.count > 5 ? ", …" : ""), which this command does not write; choose a new or empty directory (it would be replaced as a whole)")
    }
  } else {
    try createDirectory(parent)
  }
  removeLeftovers(of: name, in: parent)
  let pid = ProcessInfo.processInfo.processIdentifier
  let staging = parent + "/.\(name).tmp-\(pid)"
  try? FileManager.default.removeItem(atPath: staging)
  if let reason = makeDirectories(staging) { throw FileWriteError("\(path): cannot write the directory (\(reason))") }
  do { try body(staging) } catch {
    try? FileManager.default.removeItem(atPath: staging)
    throw error
  }
  if !exists {
    guard rename(staging, target) == 0 else {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(atPath: staging)
      throw FileWriteError("\(path): cannot move the new directory into place (\(reason))")
    }
    return
  }
  if ck_rename_exchange(staging, target) == 0 {
    try? FileManager.default.removeItem(atPath: staging)  // now the old directory
    return
  }
  let aside = parent + "/.\(name).old-\(pid)"
  try? FileManager.default.removeItem(atPath: aside)
  guard rename(target, aside) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(atPath: staging)
    throw FileWriteError("\(path): cannot replace the directory (\(reason))")
  }
  guard rename(staging, target) == 0 else {
    let reason = String(cString: strerror(errno))
    _ = rename(aside, target)
    try? FileManager.default.removeItem(atPath: staging)
    throw FileWriteError("\(path): cannot move the new directory into place (\(reason))")
  }
  try? FileManager.default.removeItem(atPath: aside)
}

/// A leftover of writeFileAtomically ("x.json.tmp-1234") inside a directory.
func isInterruptedWrite(_ entry: String) -> Bool {
  guard let r = entry.range(of: ".tmp-", options: .backwards) else { return false }
  let digits = entry[r.upperBound...]
  return !digits.isEmpty && digits.allSatisfy(\.isNumber)
}

/// Removes the staging / set-aside directories of writes to `name` whose process is gone (a kill
/// during writeDirectoryAtomically leaves one, hidden, beside the directory).
func removeLeftovers(of name: String, in parent: String) {
  guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
  for entry in entries {
    for kind in [".tmp-", ".old-"] {
      let prefix = "." + name + kind
      guard entry.hasPrefix(prefix), let pid = Int32(entry.dropFirst(prefix.count)) else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: parent + "/" + entry) }
    }
  }
}
