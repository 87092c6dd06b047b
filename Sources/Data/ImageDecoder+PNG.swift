import CPNG

extension ImageDecoder {
  /// PNG through libpng's simplified API. Color files give RGB, gray files gray; alpha is dropped.
  static func decodePNG(_ bytes: [UInt8], source: String) throws -> Image {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
    guard begun != 0 else { throw DataError(source: source, "PNG header: \(message(of: image))") }

    let color = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
    let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
    let channels = color ? 3 : 1
    let stored = channels + (alpha ? 1 : 0)
    image.format = (color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
    let width = Int(image.width), height = Int(image.height)
    let count = try byteCount(width: width, height: height, channels: stored, source: source)
    var buffer = [UInt8](repeating: 0, count: count)
    let finished = buffer.withUnsafeMutableBytes {
      png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * stored), nil)
    }
    guard finished != 0 else { throw DataError(source: source, "PNG decoding: \(message(of: image))") }
    guard alpha else { return Image(width: width, height: height, channels: channels, pixels: buffer) }

    // Drop the alpha sample of each pixel (Pillow's convert("RGB") / convert("L") do the same).
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    for p in 0..<(width * height) {
      for c in 0..<channels { pixels[p * channels + c] = buffer[p * stored + c] }
    }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
  }

  /// The text libpng left in `png_image.message`.
  static func message(of image: png_image) -> String {
    let text = withUnsafeBytes(of: image.message) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return text.isEmpty ? "unknown libpng error" : text
  }
}
