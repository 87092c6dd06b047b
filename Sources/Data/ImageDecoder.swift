/// Decodes JPEG (through TurboJPEG) and PNG (through libpng's simplified API) images held in memory.
///
/// The format is detected from the magic bytes, never from a file extension. Every decoder failure,
/// including a libjpeg warning such as a truncated file's "missing SOS marker", throws a `DataError`
/// naming `source`.
///
/// JPEG decoding uses TurboJPEG's default flags: the accurate integer (ISLOW) inverse DCT and fancy
/// (triangle-filter) chroma upsampling, the same settings Pillow uses, so pixels equal
/// `Image.open(p).convert("RGB")`.
///
/// PNG notes (libpng simplified API): an alpha channel is read and then dropped, which is what
/// Pillow's `convert("RGB")` does (no compositing onto a background). Palette images expand to RGB.
/// libpng converts 16-bit samples and files whose gAMA chunk is not sRGB to 8-bit sRGB; Pillow does
/// not apply gamma, so such (rare) files can differ from Pillow's pixels.
public enum ImageDecoder {
  public enum Format: String, Sendable {
    case jpeg, png
  }

  /// The format announced by the first bytes, or nil when they are neither JPEG nor PNG.
  public static func format(of bytes: [UInt8]) -> Format? {
    if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
    let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    if bytes.count >= 8 && Array(bytes[0..<8]) == pngMagic { return .png }
    return nil
  }

  /// Decodes an in-memory JPEG or PNG. Gray images have 1 channel unless `channels` is `.rgb`.
  public static func decode(_ bytes: [UInt8], source: String, channels: ChannelMode = .asStored) throws -> Image {
    guard let format = format(of: bytes) else {
      let reason = bytes.isEmpty ? "empty file" : "not a JPEG or PNG file (unrecognised magic bytes)"
      throw DataError(source: source, reason)
    }
    let image: Image
    switch format {
    case .jpeg: image = try decodeJPEG(bytes, source: source)
    case .png: image = try decodePNG(bytes, source: source)
    }
    return image.converted(to: channels)
  }

  /// Reads and decodes an image file.
  public static func decodeFile(_ path: String, channels: ChannelMode = .asStored) throws -> Image {
    try decode(BinaryFile.read(path), source: path, channels: channels)
  }

  /// width × height × channels as a byte count, rejecting sizes that overflow or are absurd.
  static func byteCount(width: Int, height: Int, channels: Int, source: String) throws -> Int {
    guard width > 0, height > 0 else { throw DataError(source: source, "invalid image size \(width)x\(height)") }
    let (area, o1) = width.multipliedReportingOverflow(by: height)
    let (bytes, o2) = area.multipliedReportingOverflow(by: channels)
    guard !o1, !o2, bytes <= 1 << 31 else {
      throw DataError(source: source, "image size \(width)x\(height)x\(channels) is too large")
    }
    return bytes
  }
}
