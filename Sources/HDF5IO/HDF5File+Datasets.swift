import CHDF5

/// Element types that HDF5 converts to and from natively.
public protocol HDF5Scalar: Sendable {
  static var memoryType: hid_t { get }
  static var fileType: hid_t { get }
  init()
}

extension Float: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_float() }
  public static var fileType: hid_t { qat_h5t_ieee_f32le() }
}
extension Double: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_double() }
  public static var fileType: hid_t { qat_h5t_ieee_f64le() }
}
extension Int8: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_int8() }
  public static var fileType: hid_t { qat_h5t_std_i8le() }
}
extension UInt8: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_uint8() }
  public static var fileType: hid_t { qat_h5t_std_u8le() }
}
extension Int16: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_int16() }
  public static var fileType: hid_t { qat_h5t_std_i16le() }
}
extension Int32: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_int32() }
  public static var fileType: hid_t { qat_h5t_std_i32le() }
}
extension Int64: HDF5Scalar {
  public static var memoryType: hid_t { qat_h5t_native_int64() }
  public static var fileType: hid_t { qat_h5t_std_i64le() }
}

extension HDF5File {
  /// The most values a dataset may hold when read (2^31: 8 GB of float32).
  public static let maxElements = 1 << 31

  /// Shape of a dataset.
  public func shape(of name: String) throws -> [Int] {
    try withHDF5 {
      let did = try openDataset(name)
      defer { H5Dclose(did) }
      return try extent(did, name)
    }
  }

  /// Reads a numeric dataset, converting its stored type to T (HDF5 conversion rules).
  public func read<T: HDF5Scalar>(_ name: String, as: T.Type = T.self) throws -> (shape: [Int], values: [T]) {
    try withHDF5 {
      let did = try openDataset(name)
      defer { H5Dclose(did) }
      let dims = try extent(did, name)
      let tid = H5Dget_type(did)
      defer { H5Tclose(tid) }
      let cls = H5Tget_class(tid)
      guard cls == H5T_INTEGER || cls == H5T_FLOAT else {
        throw fail(name, "expected a numeric dataset, found HDF5 type class \(cls.rawValue)")
      }
      if T.self is any BinaryInteger.Type && cls == H5T_FLOAT {
        throw fail(name, "holds floating-point values where integers are expected")
      }
      let (count, overflow) = dims.reduce((1, false)) { acc, d in
        let (p, o) = acc.0.multipliedReportingOverflow(by: d)
        return (p, acc.1 || o)
      }
      guard !overflow && count <= Self.maxElements else {
        throw fail(name, "shape \(dims) holds more than the \(Self.maxElements) values this reader accepts")
      }
      var values = [T](repeating: T(), count: count)
      let rc = values.withUnsafeMutableBytes { H5Dread(did, T.memoryType, qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), $0.baseAddress) }
      guard rc >= 0 else { throw fail(name, "read failed (truncated or corrupt data?)") }
      return (dims, values)
    }
  }

  /// Writes a numeric dataset (replacing nothing: the name must be new). Slashes create groups.
  public func write<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T], compress: Bool = false) throws {
    guard values.count == shape.reduce(1, *) else {
      throw fail(name, "\(values.count) values for shape \(shape)")
    }
    try withHDF5 {
      let dims = shape.map { hsize_t($0) }
      let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
      guard space >= 0 else { throw fail(name, "cannot create dataspace \(shape)") }
      defer { H5Sclose(space) }
      let lcpl = H5Pcreate(qat_h5p_link_create())
      defer { H5Pclose(lcpl) }
      H5Pset_create_intermediate_group(lcpl, 1)
      let dcpl = H5Pcreate(qat_h5p_dataset_create())
      defer { H5Pclose(dcpl) }
      H5Pset_obj_track_times(dcpl, false)  // no creation / modification times: the same data writes the same bytes
      if compress && !dims.isEmpty && values.count > 1024 {
        H5Pset_chunk(dcpl, Int32(dims.count), dims)
        H5Pset_deflate(dcpl, 4)
      }
      let did = H5Dcreate2(id, name, T.fileType, space, lcpl, dcpl, qat_h5p_default())
      guard did >= 0 else { throw fail(name, "cannot create dataset (exists already?)") }
      defer { H5Dclose(did) }
      let rc = values.withUnsafeBytes { H5Dwrite(did, T.memoryType, qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), $0.baseAddress) }
      guard rc >= 0 else { throw fail(name, "write failed") }
    }
  }

  /// Reads a dataset of strings (variable- or fixed-length).
  public func readStrings(_ name: String) throws -> [String] {
    try withHDF5 {
      let did = try openDataset(name)
      defer { H5Dclose(did) }
      let count = try extent(did, name).reduce(1, *)
      let ftype = H5Dget_type(did)
      defer { H5Tclose(ftype) }
      guard H5Tget_class(ftype) == H5T_STRING else { throw fail(name, "expected a string dataset") }
      return try readStrings(ftype, count: count, name: name) { mem, buf in
        H5Dread(did, mem, qat_h5s_all(), qat_h5s_all(), qat_h5p_default(), buf)
      }
    }
  }

  /// Shared by dataset and attribute readers; `read(memtype, buffer)` performs the transfer.
  func readStrings(_ ftype: hid_t, count: Int, name: String, read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
    let mem = H5Tcopy(qat_h5t_c_s1())
    defer { H5Tclose(mem) }
    H5Tset_cset(mem, H5Tget_cset(ftype))
    if H5Tis_variable_str(ftype) > 0 {
      H5Tset_size(mem, qat_h5t_variable())
      var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      let rc = ptrs.withUnsafeMutableBytes { read(mem, $0.baseAddress!) }
      guard rc >= 0 else { throw fail(name, "string read failed") }
      defer { for p in ptrs { if let p { H5free_memory(p) } } }
      return ptrs.map { $0.map { String(cString: $0) } ?? "" }
    }
    let size = H5Tget_size(ftype)
    H5Tset_size(mem, size)
    var buf = [UInt8](repeating: 0, count: size * count)
    let rc = buf.withUnsafeMutableBytes { read(mem, $0.baseAddress!) }
    guard rc >= 0 else { throw fail(name, "string read failed") }
    return (0..<count).map { i in
      let bytes = buf[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
      return String(decoding: bytes, as: UTF8.self)
    }
  }

  func openDataset(_ name: String) throws -> hid_t {
    guard H5Lexists(id, name, qat_h5p_default()) > 0 else { throw fail(name, "no such dataset") }
    let did = H5Dopen2(id, name, qat_h5p_default())
    guard did >= 0 else { throw fail(name, "cannot open dataset") }
    return did
  }

  func extent(_ did: hid_t, _ name: String) throws -> [Int] {
    let space = H5Dget_space(did)
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0 else { throw fail(name, "cannot read dataspace") }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    H5Sget_simple_extent_dims(space, &dims, nil)
    return dims.map { Int($0) }
  }
}
