import CHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The serial HDF5 library is not thread-safe: every call into it goes through this lock.
let hdf5Lock = Mutex(())

@inline(__always) func withHDF5<R>(_ body: () throws -> R) rethrows -> R {
  try hdf5Lock.withLock { _ in
    try body()
  }
}

/// An open HDF5 file. Dataset names may contain dots (PyTorch state-dict keys) or slashes (groups).
public final class HDF5File: @unchecked Sendable {
  public enum Mode: Sendable { case read, create }

  public let path: String
  let id: hid_t
  private var open = true

  public init(path: String, mode: Mode) throws {
    self.path = path
    if mode == .read {
      // stat, not open: HDF5 would block in open() on a FIFO
      var info = stat()
      guard stat(path, &info) == 0 else { throw HDF5Error(file: path, "cannot open: no such file or not readable") }
      guard (info.st_mode & S_IFMT) == S_IFREG else { throw HDF5Error(file: path, "not a regular file (a folder, FIFO or device)") }
    }
    let fid: hid_t = withHDF5 {
      _ = H5Eset_auto2(qat_h5e_default(), nil, nil)  // errors become thrown Swift errors, not stderr dumps
      switch mode {
      case .read: return H5Fopen(path, qat_h5f_acc_rdonly(), qat_h5p_default())
      case .create: return H5Fcreate(path, qat_h5f_acc_trunc(), qat_h5p_default(), qat_h5p_default())
      }
    }
    guard fid >= 0 else {
      throw HDF5Error(file: path, mode == .read ? "cannot open as HDF5 (missing, unreadable, truncated or not an HDF5 file)"
                                                 : "cannot create file")
    }
    id = fid
  }

  /// Flushes and closes the file (also done on deinit). Throws if the library reports an error.
  public func close() throws {
    guard open else { return }
    open = false
    let rc = withHDF5 { H5Fclose(id) }
    if rc < 0 { throw HDF5Error(file: path, "closing the file failed") }
  }

  deinit { if open { _ = withHDF5 { H5Fclose(id) } } }

  func fail(_ object: String?, _ message: String) -> HDF5Error { HDF5Error(file: path, object: object, message) }

  /// True if a link (dataset or group) of this name exists (intermediate groups included).
  public func contains(_ name: String) -> Bool {
    withHDF5 {
      var prefix = ""
      for part in name.split(separator: "/") {
        prefix += "/" + part
        if H5Lexists(id, prefix, qat_h5p_default()) <= 0 { return false }
      }
      return true
    }
  }

  /// Full names of all datasets (recursively through groups), sorted.
  public func datasetNames() throws -> [String] {
    var result: [String] = []
    try withHDF5 { try collect(group: "/", into: &result) }
    return result.sorted()
  }

  private func collect(group: String, into result: inout [String]) throws {
    let gid = H5Gopen2(id, group, qat_h5p_default())
    guard gid >= 0 else { throw fail(group, "cannot open group") }
    defer { H5Gclose(gid) }
    var info = H5G_info_t()
    guard H5Gget_info(gid, &info) >= 0 else { throw fail(group, "cannot read group info") }
    for i in 0..<info.nlinks {
      let size = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, qat_h5p_default())
      guard size >= 0 else { throw fail(group, "cannot read link name \(i)") }
      var buf = [CChar](repeating: 0, count: Int(size) + 1)
      _ = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(size) + 1, qat_h5p_default())
      let name = String(decoding: buf.prefix(Int(size)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      let full = group == "/" ? name : group + "/" + name
      let oid = H5Oopen(gid, name, qat_h5p_default())
      guard oid >= 0 else { continue }  // dangling links are skipped
      let type = H5Iget_type(oid)
      H5Oclose(oid)
      if type == H5I_GROUP { try collect(group: full, into: &result) } else if type == H5I_DATASET { result.append(full) }
    }
  }
}

/// Dataset names for tensor names: '/' (HDF5's group separator, common in imported node names)
/// and '%' are percent-escaped, so every name round-trips; PyTorch-style names are unchanged.
public enum HDF5Name {
  public static func escaped(_ name: String) -> String {
    name.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
  }

  public static func unescaped(_ key: String) -> String {
    key.replacingOccurrences(of: "%2F", with: "/").replacingOccurrences(of: "%25", with: "%")
  }
}
