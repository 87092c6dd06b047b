import CHDF5

extension HDF5File {
  /// Names of the attributes on an object ("/" for the file root).
  public func attributeNames(of object: String = "/") throws -> [String] {
    try withHDF5 {
      let oid = H5Oopen(id, object, qat_h5p_default())
      guard oid >= 0 else { throw fail(object, "no such object") }
      defer { H5Oclose(oid) }
      let n = H5Aget_num_attrs(oid)
      return (0..<max(0, Int(n))).compactMap { i -> String? in
        let aid = H5Aopen_by_idx(oid, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), qat_h5p_default(), qat_h5p_default())
        guard aid >= 0 else { return nil }
        defer { H5Aclose(aid) }
        let size = H5Aget_name(aid, 0, nil)
        var buf = [CChar](repeating: 0, count: Int(size) + 1)
        H5Aget_name(aid, Int(size) + 1, &buf)
        return String(decoding: buf.prefix(Int(size)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      }
    }
  }

  /// Whether the attribute exists and holds strings.
  public func isStringAttribute(_ name: String, of object: String = "/") throws -> Bool {
    try withHDF5 {
      guard let aid = try openAttribute(name, of: object) else { return false }
      defer { H5Aclose(aid) }
      let ftype = H5Aget_type(aid)
      defer { H5Tclose(ftype) }
      return H5Tget_class(ftype) == H5T_STRING
    }
  }

  /// A string attribute (variable- or fixed-length), or nil if absent. Array attributes are
  /// joined with ", ".
  public func stringAttribute(_ name: String, of object: String = "/") throws -> String? {
    try stringArrayAttribute(name, of: object)?.joined(separator: ", ")
  }

  /// All strings of a (scalar or array) string attribute, or nil if absent.
  public func stringArrayAttribute(_ name: String, of object: String = "/") throws -> [String]? {
    try withHDF5 {
      guard let aid = try openAttribute(name, of: object) else { return nil }
      defer { H5Aclose(aid) }
      let ftype = H5Aget_type(aid)
      defer { H5Tclose(ftype) }
      guard H5Tget_class(ftype) == H5T_STRING else { throw fail("\(object)@\(name)", "attribute is not a string") }
      let space = H5Aget_space(aid)
      defer { H5Sclose(space) }
      let count = max(1, Int(H5Sget_simple_extent_npoints(space)))
      return try readStrings(ftype, count: count, name: "\(object)@\(name)") { mem, buf in H5Aread(aid, mem, buf) }
    }
  }

  /// A numeric attribute as doubles (scalar or array), or nil if absent.
  public func numericAttribute(_ name: String, of object: String = "/") throws -> [Double]? {
    try withHDF5 {
      guard let aid = try openAttribute(name, of: object) else { return nil }
      defer { H5Aclose(aid) }
      let space = H5Aget_space(aid)
      defer { H5Sclose(space) }
      let n = max(1, Int(H5Sget_simple_extent_npoints(space)))
      var values = [Double](repeating: 0, count: n)
      guard H5Aread(aid, qat_h5t_native_double(), &values) >= 0 else {
        throw fail("\(object)@\(name)", "attribute is not numeric")
      }
      return values
    }
  }

  /// Writes a variable-length UTF-8 string attribute.
  public func setAttribute(_ name: String, string value: String, of object: String = "/") throws {
    try withHDF5 {
      let oid = H5Oopen(id, object, qat_h5p_default())
      guard oid >= 0 else { throw fail(object, "no such object") }
      defer { H5Oclose(oid) }
      let type = H5Tcopy(qat_h5t_c_s1())
      defer { H5Tclose(type) }
      H5Tset_size(type, qat_h5t_variable())
      H5Tset_cset(type, H5T_CSET_UTF8)
      let space = H5Screate(H5S_SCALAR)
      defer { H5Sclose(space) }
      let aid = H5Acreate2(oid, name, type, space, qat_h5p_default(), qat_h5p_default())
      guard aid >= 0 else { throw fail("\(object)@\(name)", "cannot create attribute") }
      defer { H5Aclose(aid) }
      let rc = value.withCString { cs -> herr_t in
        var p: UnsafePointer<CChar>? = cs
        return H5Awrite(aid, type, &p)
      }
      guard rc >= 0 else { throw fail("\(object)@\(name)", "cannot write attribute") }
    }
  }

  /// Writes a numeric attribute (one value becomes a scalar).
  public func setAttribute(_ name: String, numbers: [Double], of object: String = "/") throws {
    try withHDF5 {
      let oid = H5Oopen(id, object, qat_h5p_default())
      guard oid >= 0 else { throw fail(object, "no such object") }
      defer { H5Oclose(oid) }
      let dims = [hsize_t(numbers.count)]
      let space = numbers.count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nil)
      defer { H5Sclose(space) }
      let aid = H5Acreate2(oid, name, qat_h5t_ieee_f64le(), space, qat_h5p_default(), qat_h5p_default())
      guard aid >= 0 else { throw fail("\(object)@\(name)", "cannot create attribute") }
      defer { H5Aclose(aid) }
      guard H5Awrite(aid, qat_h5t_native_double(), numbers) >= 0 else { throw fail("\(object)@\(name)", "cannot write attribute") }
    }
  }

  private func openAttribute(_ name: String, of object: String) throws -> hid_t? {
    guard H5Aexists_by_name(id, object, name, qat_h5p_default()) > 0 else { return nil }
    let aid = H5Aopen_by_name(id, object, name, qat_h5p_default(), qat_h5p_default())
    guard aid >= 0 else { throw fail("\(object)@\(name)", "cannot open attribute") }
    return aid
  }
}
