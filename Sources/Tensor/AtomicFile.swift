import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be written or renamed into place.
public struct FileWriteError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// A file that could not be read: missing, not a regular file, unreadable or too large.
public struct FileReadError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// The text of the current errno ("Permission denied").
func errnoDescription() -> String { String(cString: strerror(errno)) }

/// Writes data to a temporary file next to path and renames it into place, so a failure never
/// leaves half a file. Errors name the path and the system's reason ("Permission denied", "No
/// such file or directory", "No space left on device").
public func writeFileAtomically(_ path: String, _ data: Data) throws {
  let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
  let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  guard fd >= 0 else { throw FileWriteError("\(path): cannot write (\(errnoDescription()))") }
  var failure: String?
  data.withUnsafeBytes { raw in
    var done = 0
    while done < raw.count {
      let n = write(fd, raw.baseAddress! + done, raw.count - done)
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { failure = errnoDescription(); return }
      done += n
    }
  }
  if close(fd) != 0 && failure == nil { failure = errnoDescription() }
  if let failure {
    unlink(tmp)
    throw FileWriteError("\(path): cannot write (\(failure))")
  }
  if rename(tmp, path) != 0 {
    let reason = errnoDescription()
    unlink(tmp)
    throw FileWriteError("\(path): cannot rename \(tmp) into place (\(reason))")
  }
}

/// The bytes of a regular file of at most `limit` bytes. Checked with stat before anything opens
/// it, so a FIFO or a device never blocks and a huge file is never read; errors name the path,
/// what the file is (`what`: "quantization JSON") and the reason.
public func readRegularFile(_ path: String, what: String, limit: Int = 256 << 20) throws -> Data {
  var info = stat()
  guard stat(path, &info) == 0 else { throw FileReadError("\(path): cannot read the \(what) (\(errnoDescription()))") }
  guard (info.st_mode & S_IFMT) == S_IFREG else {
    throw FileReadError("\(path): the \(what) is not a regular file (a folder, FIFO or device)")
  }
  guard Int(info.st_size) <= limit else {
    throw FileReadError("\(path): the \(what) has \(info.st_size) bytes, more than the \(limit) accepted")
  }
  let fd = open(path, O_RDONLY | O_NONBLOCK)
  guard fd >= 0 else { throw FileReadError("\(path): cannot read the \(what) (\(errnoDescription()))") }
  defer { close(fd) }
  var bytes = Data(count: Int(info.st_size))
  var failure: String?
  let done = bytes.withUnsafeMutableBytes { raw -> Int in
    var done = 0
    while done < raw.count {
      let n = read(fd, raw.baseAddress! + done, raw.count - done)
      if n < 0 && errno == EINTR { continue }
      if n < 0 { failure = errnoDescription() }
      if n <= 0 { break }
      done += n
    }
    return done
  }
  if let failure { throw FileReadError("\(path): cannot read the \(what) (\(failure))") }
  guard done == bytes.count else { throw FileReadError("\(path): the \(what) shrank while reading (\(done) of \(bytes.count) bytes)") }
  return bytes
}
