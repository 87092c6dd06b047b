#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Reuses large aligned buffers. Training allocates the same activation sizes every step; without
/// reuse each multi-megabyte tensor would come fresh from the kernel (page faults and zeroing cost
/// more than the arithmetic). Buffers from 256 KiB up are kept per exact (page-rounded) size, up to
/// `capacity` bytes in total. The pool never changes values: it only recycles memory.
final class BufferPool: Sendable {
  static let shared = BufferPool(capacity: 4 << 30)

  static let minimumPooledBytes = 256 << 10
  private struct State {
    var free: [Int: [UInt]] = [:]  // addresses by size (integers: Sendable)
    var cachedBytes = 0
  }
  private let state = Mutex(State())
  let capacity: Int

  init(capacity: Int) { self.capacity = capacity }

  /// Page-rounded size for pooled buffers; the exact request for small ones.
  static func roundedSize(_ bytes: Int) -> Int {
    bytes >= minimumPooledBytes ? (bytes + 4095) & ~4095 : max(bytes, 64)
  }

  func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    let size = Self.roundedSize(bytes)
    if size >= Self.minimumPooledBytes {
      let reused: UInt? = state.withLock { s in
        guard let p = s.free[size]?.popLast() else { return nil }
        s.cachedBytes -= size
        return p
      }
      if let reused, let p = UnsafeMutableRawPointer(bitPattern: reused) { return p }
    }
    var raw: UnsafeMutableRawPointer?
    let rc = posix_memalign(&raw, 64, size)
    precondition(rc == 0 && raw != nil, "out of memory allocating \(size) bytes")
    return raw!
  }

  func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
    let size = Self.roundedSize(bytes)
    if size >= Self.minimumPooledBytes {
      let address = UInt(bitPattern: pointer)
      let limit = capacity
      let kept = state.withLock { s -> Bool in
        guard s.cachedBytes + size <= limit else { return false }
        s.free[size, default: []].append(address)
        s.cachedBytes += size
        return true
      }
      if kept { return }
    }
    free(pointer)
  }
}
