import CTurboJPEG

extension ImageDecoder {
  /// JPEG through TurboJPEG with default flags (ISLOW IDCT, fancy upsampling). Any nonzero return,
  /// warnings included, is an error.
  static func decodeJPEG(_ bytes: [UInt8], source: String) throws -> Image {
    guard let handle = tjInitDecompress() else {
      throw DataError(source: source, "cannot create a TurboJPEG decompressor")
    }
    defer { tjDestroy(handle) }
    func failure(_ stage: String) -> DataError {
      let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown TurboJPEG error"
      return DataError(source: source, "JPEG \(stage) failed: \(message)")
    }
    return try bytes.withUnsafeBufferPointer { buf -> Image in
      var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
      guard tjDecompressHeader3(handle, buf.baseAddress, UInt(buf.count), &width, &height, &subsampling, &colorspace) == 0 else {
        throw failure("header")
      }
      guard width > 0, height > 0 else {
        throw DataError(source: source, "JPEG header has no image size (truncated before the frame header?)")
      }
      let gray = colorspace == Int32(TJCS_GRAY.rawValue)
      if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
        throw DataError(source: source, "CMYK/YCCK JPEGs are not supported")
      }
      let channels = gray ? 1 : 3
      let count = try byteCount(width: Int(width), height: Int(height), channels: channels, source: source)
      let format = gray ? TJPF_GRAY : TJPF_RGB
      var pixels = [UInt8](repeating: 0, count: count)
      let rc = pixels.withUnsafeMutableBufferPointer { out in
        tjDecompress2(handle, buf.baseAddress, UInt(buf.count), out.baseAddress, width,
                      width * Int32(channels), height, Int32(format.rawValue), 0)
      }
      guard rc == 0 else { throw failure("decoding") }
      return Image(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
    }
  }
}
