/// A 64-byte aligned buffer of Float32, owned by one or more tensors (copy on write).
final class TensorStorage: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int) {
    self.count = count
    let raw = BufferPool.shared.allocate(bytes: max(count, 1) * MemoryLayout<Float>.stride)
    pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
  }

  convenience init(copying other: TensorStorage) {
    self.init(count: other.count)
    pointer.update(from: other.pointer, count: count)
  }

  deinit { BufferPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride) }
}
