import Datasets
import Layers
import TensorCore

/// Preprocessing as the command line gives it (the xfDNN option names of datasets.md and a named
/// preset), resolved against what the model recorded.
public struct PreprocessingChoice: Sendable {
  /// Named starting points: `cifar-resnet20` (the built-in ResNets' input: u/255, ImageNet mean and
  /// std, 3×32×32) and `none` (u/255 only).
  public static let presets: [String: Preprocessing] = ["cifar-resnet20": .cifarResNet20, "none": Preprocessing()]

  public var preset: String?
  public var dims: [Int]?
  public var centerCrop: [Int]?
  public var transpose: [Int]?
  public var channelSwap: [Int]?
  public var rawScale: Float?
  public var meanValue: [Float]?
  public var std: [Float]?
  public var inputScale: Float?

  public init() {}

  /// Whether nothing was given.
  public var isEmpty: Bool {
    preset == nil && dims == nil && centerCrop == nil && transpose == nil && channelSwap == nil && rawScale == nil
      && meanValue == nil && std == nil && inputScale == nil
  }

  /// Explicit options over a base: the preset if given, else what the model recorded, else the
  /// built-in architectures' preprocessing, or for an imported model u/255 at its input size.
  public func resolve(recorded: Preprocessing?, source: GraphSource?, inputShape: Shape?) throws -> Preprocessing {
    var p: Preprocessing
    if let preset {
      guard let base = Self.presets[preset] else {
        throw TrainingError("--preprocessing '\(preset)': expected one of \(Self.presets.keys.sorted().joined(separator: ", "))")
      }
      p = base
    } else if let recorded {
      p = recorded
    } else if case .architecture? = source {
      p = .cifarResNet20
    } else {
      p = Preprocessing()
    }
    if p.dims == nil, let s = inputShape, s.rank == 3 { p.dims = s.dims }
    if let dims { p.dims = dims }
    if let centerCrop { p.centerCrop = centerCrop }
    if let transpose { p.transpose = transpose }
    if let channelSwap { p.channelSwap = channelSwap }
    if let rawScale { p.rawScale = rawScale }
    if let meanValue { p.meanValue = meanValue }
    if let std { p.std = std }
    if let inputScale { p.inputScale = inputScale }
    do { try p.validate() } catch { throw TrainingError("preprocessing: \(error)") }
    return p
  }

  /// ONNX input shapes from `dims` (the network's C, H, W).
  public var inputDims: [String: [Int]] { dims.map { ["": $0] } ?? [:] }
}

extension Preprocessing {
  /// How images are decoded for this preprocessing: one channel when the input has one.
  public var channelMode: ChannelMode { dims?.first == 1 ? .asStored : .rgb }
}
