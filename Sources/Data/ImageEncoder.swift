import CPNG
import CTurboJPEG

/// Encodes images to PNG (libpng simplified API) or JPEG (TurboJPEG), for tests and for writing
/// sample images. Failures throw a `DataError` naming `destination`.
public enum ImageEncoder {
  /// Lossless PNG bytes of `image` (8-bit gray or RGB).
  public static func png(_ image: Image, destination: String = "PNG encoder") throws -> [UInt8] {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = image.channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
    defer { png_image_free(&png) }
    let stride = Int32(image.width * image.channels)
    var size = 0
    let sized = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
    guard sized != 0, size > 0 else { throw DataError(source: destination, "PNG encoding: \(ImageDecoder.message(of: png))") }
    var out = [UInt8](repeating: 0, count: size)
    let written = out.withUnsafeMutableBytes { dst in
      image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
    }
    guard written != 0 else { throw DataError(source: destination, "PNG encoding: \(ImageDecoder.message(of: png))") }
    return Array(out.prefix(size))
  }

  /// Baseline JPEG bytes of `image` with the given quality (1...100) and 4:2:0 chroma for RGB.
  public static func jpeg(_ image: Image, quality: Int = 75, destination: String = "JPEG encoder") throws -> [UInt8] {
    guard (1...100).contains(quality) else { throw DataError(source: destination, "JPEG quality \(quality) outside 1...100") }
    guard let handle = tjInitCompress() else { throw DataError(source: destination, "cannot create a TurboJPEG compressor") }
    defer { tjDestroy(handle) }
    var buffer: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    let gray = image.channels == 1
    let rc = image.pixels.withUnsafeBufferPointer { src in
      tjCompress2(handle, src.baseAddress, Int32(image.width), Int32(image.width * image.channels), Int32(image.height),
                  Int32((gray ? TJPF_GRAY : TJPF_RGB).rawValue), &buffer, &size,
                  Int32((gray ? TJSAMP_GRAY : TJSAMP_420).rawValue), Int32(quality), 0)
    }
    defer { if let buffer { tjFree(buffer) } }
    guard rc == 0, let buffer else {
      let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown TurboJPEG error"
      throw DataError(source: destination, "JPEG encoding: \(message)")
    }
    return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
  }
}
