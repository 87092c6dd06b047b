import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads that report failures as `DataError`s naming the path.
enum BinaryFile {
  /// All bytes of a file.
  static func read(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK)  // a FIFO opens at once and is refused below
    guard fd >= 0 else { throw DataError(source: path, "cannot open: \(errnoText())") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw DataError(source: path, "cannot stat: \(errnoText())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw DataError(source: path, "not a regular file") }
    let size = Int(info.st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
      let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, size - done) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw DataError(source: path, n == 0 ? "file shrank while reading (\(done) of \(size) bytes)" : "read failed: \(errnoText())")
      }
      done += n
    }
    return bytes
  }

  /// All bytes of a file, decompressed if it is gzip (zlib's gzread passes plain files through).
  /// A truncated or corrupt gzip stream is an error.
  static func readMaybeGzip(_ path: String) throws -> [UInt8] {
    var info = stat()
    guard stat(path, &info) == 0 else { throw DataError(source: path, "cannot open: \(errnoText())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw DataError(source: path, "not a regular file") }
    guard let gz = gzopen(path, "rb") else { throw DataError(source: path, "cannot open: \(errnoText())") }
    var closed = false
    defer { if !closed { gzclose_r(gz) } }
    gzbuffer(gz, 1 << 17)
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
      if n < 0 { throw DataError(source: path, "decompression failed: \(gzipError(gz))") }
      if n == 0 { break }
      result.append(contentsOf: chunk[0..<Int(n)])
    }
    // gzread returns 0 both at a clean end and when the stream ends early; the error state tells.
    var code: Int32 = 0
    let text = gzerror(gz, &code).map { String(cString: $0) } ?? ""
    if code != Z_OK && code != Z_STREAM_END {
      throw DataError(source: path, "decompression failed: \(text.isEmpty ? "zlib error \(code)" : text)")
    }
    closed = true
    let rc = gzclose_r(gz)
    guard rc == Z_OK else { throw DataError(source: path, "gzip stream is truncated or corrupt (zlib code \(rc))") }
    return result
  }

  private static func gzipError(_ gz: gzFile) -> String {
    var code: Int32 = 0
    return gzerror(gz, &code).map { String(cString: $0) } ?? "zlib error \(code)"
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}
