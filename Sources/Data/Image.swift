/// A decoded 8-bit image: `height` rows of `width` pixels of `channels` (1 = gray, 3 = RGB) samples,
/// stored in HWC order (row-major, channels interleaved).
public struct Image: Sendable, Equatable {
  public let width: Int
  public let height: Int
  public let channels: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    precondition(width >= 0 && height >= 0, "Image: negative size \(width)x\(height)")
    precondition(channels == 1 || channels == 3, "Image: channels must be 1 or 3, not \(channels)")
    precondition(pixels.count == width * height * channels,
                 "Image: \(pixels.count) bytes for \(width)x\(height)x\(channels) (\(width * height * channels) expected)")
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }

  /// An all-zero (black) image.
  public init(width: Int, height: Int, channels: Int) {
    self.init(width: width, height: height, channels: channels,
              pixels: [UInt8](repeating: 0, count: width * height * channels))
  }

  /// The sample at row `y`, column `x`, channel `c`.
  public subscript(y y: Int, x x: Int, c c: Int) -> UInt8 {
    get { pixels[(y * width + x) * channels + c] }
    set { pixels[(y * width + x) * channels + c] = newValue }
  }

  /// This image with 3 channels: a gray image has its one channel replicated (as Pillow's
  /// `convert("RGB")` does); an RGB image is returned unchanged.
  public func replicatedToRGB() -> Image {
    guard channels == 1 else { return self }
    var rgb = [UInt8](repeating: 0, count: pixels.count * 3)
    for (i, v) in pixels.enumerated() {
      rgb[3 * i] = v
      rgb[3 * i + 1] = v
      rgb[3 * i + 2] = v
    }
    return Image(width: width, height: height, channels: 3, pixels: rgb)
  }

  /// This image converted to the requested channel layout.
  public func converted(to mode: ChannelMode) -> Image {
    switch mode {
    case .asStored: return self
    case .rgb: return replicatedToRGB()
    }
  }
}

/// How many channels a decoded image should have.
public enum ChannelMode: String, Sendable, Codable {
  /// Gray files give 1 channel, color files 3.
  case asStored
  /// Always 3 channels (gray is replicated), like Pillow's `convert("RGB")`.
  case rgb
}
