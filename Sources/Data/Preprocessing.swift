import TensorCore

/// Turns a decoded 8-bit image into a float tensor, with the options of the xfDNN quantizer (Caffe's
/// `caffe.io.Transformer` order) plus a per-channel `std` for PyTorch-style normalisation.
///
/// Steps, in this order:
/// 1. pixels become Float32 in [0, 1]: `Float(u) / 255` (one Float32 division, like torchvision's
///    `ToTensor` and Caffe's `load_image`);
/// 2. `dims` [C, H, W]: C must equal the image's channels; when the image is not H×W it is resized
///    with bilinear interpolation (half-pixel centres, `align_corners=False`, edge samples clamped,
///    no antialiasing — like OpenCV `INTER_LINEAR` and PyTorch `interpolate(mode="bilinear")`),
///    computed in Float32 on the [0, 1] values;
/// 3. `centerCrop` [H, W] (optional): the centre window of that size is kept (offsets rounded like
///    torchvision's `CenterCrop`); the output's spatial size is then the crop size;
/// 4. `transpose`: axis permutation of HWC, default [2, 0, 1] (HWC → CHW);
/// 5. `channelSwap`: output channel k takes input channel `channelSwap[k]` (e.g. [2, 1, 0] for
///    RGB → BGR), applied to the channel axis wherever `transpose` put it;
/// 6. `rawScale`: x *= rawScale;  7. `meanValue`: x -= mean[k];  8. `std`: x /= std[k];
/// 9. `inputScale`: x *= inputScale.
///
/// `meanValue` and `std` are in the channel order after `channelSwap` and hold one value per channel
/// (or a single value for all). Omitted steps are skipped; the arithmetic is exactly the Float32
/// sequence above, so `cifarResNet20` equals PyTorch's `ToTensor()` + `Normalize(mean, std)` bit for bit.
public struct Preprocessing: Sendable, Equatable {
  public var dims: [Int]?
  public var centerCrop: [Int]?
  public var transpose: [Int]
  public var channelSwap: [Int]?
  public var rawScale: Float?
  public var meanValue: [Float]?
  public var std: [Float]?
  public var inputScale: Float?

  /// Options are checked by `validate()` (called by `ImagePipeline` and when decoding).
  public init(dims: [Int]? = nil, centerCrop: [Int]? = nil, transpose: [Int] = [2, 0, 1], channelSwap: [Int]? = nil,
              rawScale: Float? = nil, meanValue: [Float]? = nil, std: [Float]? = nil, inputScale: Float? = nil) {
    self.dims = dims
    self.centerCrop = centerCrop
    self.transpose = transpose
    self.channelSwap = channelSwap
    self.rawScale = rawScale
    self.meanValue = meanValue
    self.std = std
    self.inputScale = inputScale
  }

  /// The pretrained CIFAR-10 ResNet-20's input: `(Float(u)/255 - mean) / std` with the ImageNet
  /// statistics, RGB, [3, 32, 32]. The constants are the Float32 roundings of the Python doubles,
  /// as `torch.as_tensor(mean, dtype=torch.float32)` makes them.
  public static let cifarResNet20 = Preprocessing(
    dims: [3, 32, 32],
    meanValue: [0.485, 0.456, 0.406].map { (v: Double) in Float(v) },
    std: [0.229, 0.224, 0.225].map { (v: Double) in Float(v) })

  /// Checks the options for contradictions; throws a `DataError` with source "Preprocessing".
  public func validate() throws {
    func fail(_ message: String) -> DataError { DataError(source: "Preprocessing", message) }
    let channels = dims?.first
    if let dims {
      guard dims.count == 3, dims.allSatisfy({ $0 > 0 }), dims[0] == 1 || dims[0] == 3 else {
        throw fail("dims must be [C, H, W] with C = 1 or 3 and positive sizes, found \(dims)")
      }
    }
    if let centerCrop {
      guard centerCrop.count == 2, centerCrop.allSatisfy({ $0 > 0 }) else {
        throw fail("centerCrop must be [H, W] with positive sizes, found \(centerCrop)")
      }
      if let dims, centerCrop[0] > dims[1] || centerCrop[1] > dims[2] {
        throw fail("centerCrop \(centerCrop) is larger than the resized size \(Array(dims[1...]))")
      }
    }
    guard transpose.sorted() == [0, 1, 2] else { throw fail("transpose must be a permutation of [0, 1, 2], found \(transpose)") }
    if let channelSwap {
      guard channelSwap.sorted() == Array(0..<channelSwap.count) else {
        throw fail("channelSwap must be a permutation of 0..<C, found \(channelSwap)")
      }
      if let channels, channelSwap.count != channels { throw fail("channelSwap \(channelSwap) has \(channelSwap.count) entries for \(channels) channels") }
    }
    for (name, values) in [("meanValue", meanValue), ("std", std)] {
      guard let values else { continue }
      guard values.allSatisfy(\.isFinite), !values.isEmpty else { throw fail("\(name) must hold finite values, found \(values)") }
      if let channels, values.count != 1 && values.count != channels {
        throw fail("\(name) has \(values.count) values for \(channels) channels (give 1 or \(channels))")
      }
    }
    if let std, std.contains(0) { throw fail("std must not contain 0, found \(std)") }
    for (name, value) in [("rawScale", rawScale), ("inputScale", inputScale)] {
      if let value, !value.isFinite { throw fail("\(name) must be finite, found \(value)") }
    }
  }

  /// The output tensor shape for an image of the given size (after resize, crop and transpose).
  public func outputShape(height: Int, width: Int, channels: Int) -> Shape {
    let (h, w) = outputSize(height: height, width: width)
    let hwc = [h, w, dims?[0] ?? channels]
    return Shape(transpose.map { hwc[$0] })
  }

  /// Spatial size after the resize and the crop.
  func outputSize(height: Int, width: Int) -> (Int, Int) {
    if let centerCrop { return (centerCrop[0], centerCrop[1]) }
    if let dims { return (dims[1], dims[2]) }
    return (height, width)
  }
}
