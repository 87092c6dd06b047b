import TensorCore

/// Random training augmentation on the 8-bit image, before preprocessing (torchvision order):
/// 1. random crop with zero padding, like `RandomCrop(size, padding:)`: the image is padded with
///    `padding` black pixels on every side and a `cropHeight`×`cropWidth` window is chosen with
///    top and left offsets uniform over all positions (top drawn first);
/// 2. horizontal flip with probability `flipProbability`, like `RandomHorizontalFlip(p)`.
/// All randomness comes from the generator passed to `apply`.
public struct Augmentation: Sendable, Equatable {
  /// Crop window size; nil disables the random crop.
  public var cropHeight: Int?
  public var cropWidth: Int?
  public var padding: Int
  /// 0 disables the flip.
  public var flipProbability: Double

  public init(cropHeight: Int? = nil, cropWidth: Int? = nil, padding: Int = 0, flipProbability: Double = 0) {
    self.cropHeight = cropHeight
    self.cropWidth = cropWidth
    self.padding = padding
    self.flipProbability = flipProbability
  }

  /// Square random crop of `size` with `padding`, plus a flip with probability 0.5 when `horizontalFlip`.
  public init(randomCrop size: Int, padding: Int, horizontalFlip: Bool) {
    self.init(cropHeight: size, cropWidth: size, padding: padding, flipProbability: horizontalFlip ? 0.5 : 0)
  }

  /// The usual CIFAR-10 training augmentation: `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`.
  public static let cifar = Augmentation(randomCrop: 32, padding: 4, horizontalFlip: true)

  /// Checks the options; throws a `DataError` with source "Augmentation".
  public func validate() throws {
    guard (cropHeight == nil) == (cropWidth == nil) else {
      throw DataError(source: "Augmentation", "give both cropHeight and cropWidth or neither")
    }
    if let cropHeight, let cropWidth, cropHeight <= 0 || cropWidth <= 0 {
      throw DataError(source: "Augmentation", "crop size \(cropHeight)x\(cropWidth) must be positive")
    }
    guard padding >= 0 else { throw DataError(source: "Augmentation", "padding \(padding) is negative") }
    guard (0...1).contains(flipProbability) else {
      throw DataError(source: "Augmentation", "flipProbability \(flipProbability) outside [0, 1]")
    }
  }

  /// The augmented image. Throws a `DataError` naming `source` when the crop is larger than the
  /// padded image.
  public func apply(_ image: Image, rng: inout RandomGenerator, source: String = "image") throws -> Image {
    var top = padding, left = padding
    let height = cropHeight ?? image.height, width = cropWidth ?? image.width
    if cropHeight != nil {
      let spanY = image.height + 2 * padding - height, spanX = image.width + 2 * padding - width
      guard spanY >= 0, spanX >= 0 else {
        throw DataError(source: source, "crop \(height)x\(width) is larger than the padded image " +
                        "\(image.height + 2 * padding)x\(image.width + 2 * padding)")
      }
      top = rng.nextInt(below: spanY + 1)
      left = rng.nextInt(below: spanX + 1)
    }
    let flip = flipProbability > 0 && rng.nextDouble() < flipProbability
    if cropHeight == nil && !flip { return image }
    return Self.transform(image, height: height, width: width, padding: padding, top: top, left: left, flip: flip)
  }

  /// The window of size height×width at (top, left) of the image padded by `padding` zero pixels,
  /// mirrored left-right when `flip`. Positions outside the image are 0.
  public static func transform(_ image: Image, height: Int, width: Int, padding: Int, top: Int, left: Int, flip: Bool) -> Image {
    let c = image.channels
    var out = [UInt8](repeating: 0, count: height * width * c)
    for y in 0..<height {
      let sy = y + top - padding
      guard sy >= 0 && sy < image.height else { continue }
      for x in 0..<width {
        let sx = x + left - padding
        guard sx >= 0 && sx < image.width else { continue }
        let dx = flip ? width - 1 - x : x
        for ch in 0..<c { out[(y * width + dx) * c + ch] = image.pixels[(sy * image.width + sx) * c + ch] }
      }
    }
    return Image(width: width, height: height, channels: c, pixels: out)
  }
}
