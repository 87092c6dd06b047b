/// How a quantizer's range is chosen from observed values.
public enum CalibrationMethod: Hashable, Sendable, Codable, CustomStringConvertible {
  /// vai_q method 0: position from max |x|, nothing saturates.
  case nonOverflow
  /// vai_q method 1 (default): the power-of-two position minimising the quantization error,
  /// saturation allowed.
  case minDiffs
  /// vai_q method 2: min-diffs, with depthwise-convolution weights quantized non-overflow.
  case minDiffsDepthwise
  /// Observed minimum and maximum.
  case minMax
  /// Exponential moving average of each batch's minimum and maximum (ORT's constant 0.01).
  case movingAverageMinMax(averagingConstant: Double)
  /// NVDLA calibrator: histogram of |x| with `bins`; the range ends at the `threshold` percentile
  /// (1.0 = the maximum, no clipping).
  case percentile(bins: Int, threshold: Double)
  /// TensorRT-style entropy: the threshold minimising KL(reference ‖ quantized) over a histogram.
  case entropy(bins: Int)
  /// The clipping threshold minimising the expected squared quantization error over a histogram.
  case mse(bins: Int)

  public static let defaultBins = 2048

  /// Parses a command-line or config name: non-overflow / 0, min-diffs / 1, min-diffs-depthwise / 2,
  /// min-max, moving-average-min-max, percentile, entropy, mse.
  public static func named(_ name: String, bins: Int = defaultBins, threshold: Double = 1.0,
                           averagingConstant: Double = 0.01) -> CalibrationMethod? {
    switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
    case "0", "non-overflow", "nonoverflow": .nonOverflow
    case "1", "min-diffs", "mindiffs": .minDiffs
    case "2", "min-diffs-depthwise": .minDiffsDepthwise
    case "min-max", "minmax": .minMax
    case "moving-average-min-max", "moving-average": .movingAverageMinMax(averagingConstant: averagingConstant)
    case "percentile": .percentile(bins: bins, threshold: threshold)
    case "entropy", "kl": .entropy(bins: bins)
    case "mse", "min-mse": .mse(bins: bins)
    default: nil
    }
  }

  public static let names = ["non-overflow", "min-diffs", "min-diffs-depthwise", "min-max", "moving-average-min-max",
                             "percentile", "entropy", "mse"]

  /// Histogram sizes the histogram methods accept: enough bins to place 8-bit thresholds, few
  /// enough that a quantizer's histogram stays small (65,536 doubles = 512 KiB).
  public static let binRange = 16...65_536

  /// Checks the method's parameters: bins in `binRange`, a percentile threshold in (0, 1], an
  /// averaging constant in (0, 1]; throws naming the method and the value.
  public func validate() throws {
    switch self {
    case .percentile(let b, let t):
      try Self.check(bins: b, "percentile")
      guard t.isFinite, t > 0, t <= 1 else { throw QuantizationError("percentile threshold must be in (0, 1] (1 = no clipping), got \(t)") }
    case .entropy(let b): try Self.check(bins: b, "entropy")
    case .mse(let b): try Self.check(bins: b, "mse")
    case .movingAverageMinMax(let c):
      guard c.isFinite, c > 0, c <= 1 else { throw QuantizationError("moving-average-min-max averaging constant must be in (0, 1], got \(c)") }
    case .nonOverflow, .minDiffs, .minDiffsDepthwise, .minMax: break
    }
  }

  static func check(bins: Int, _ method: String) throws {
    guard binRange.contains(bins) else {
      throw QuantizationError("\(method): bins must be in \(binRange.lowerBound)...\(binRange.upperBound), got \(bins)")
    }
  }

  /// Whether the method reads `bins` / `threshold` (the others ignore them).
  public var usesBins: Bool {
    switch self {
    case .percentile, .entropy, .mse: true
    default: false
    }
  }
  public var usesThreshold: Bool { if case .percentile = self { true } else { false } }

  public var description: String {
    switch self {
    case .nonOverflow: "non-overflow"
    case .minDiffs: "min-diffs"
    case .minDiffsDepthwise: "min-diffs-depthwise"
    case .minMax: "min-max"
    case .movingAverageMinMax(let c): "moving-average-min-max(\(c))"
    case .percentile(let b, let t): "percentile(bins \(b), threshold \(t))"
    case .entropy(let b): "entropy(bins \(b))"
    case .mse(let b): "mse(bins \(b))"
    }
  }
}

/// JSON form: a name ("min-diffs"), or an object with the name and parameters
/// ({"name": "percentile", "bins": 2048, "threshold": 0.9999}).
extension CalibrationMethod {
  enum CodingKeys: String, CodingKey, CaseIterable { case name, bins, threshold, averagingConstant = "averaging_constant" }

  public init(from decoder: Decoder) throws {
    if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
      guard let m = CalibrationMethod.named(name) else {
        throw DecodingError.dataCorruptedError(in: single, debugDescription: "unknown calibration method '\(name)'")
      }
      self = m
      return
    }
    try decoder.rejectUnknownKeys(CodingKeys.self)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let name = try c.decode(String.self, forKey: .name)
    let bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? CalibrationMethod.defaultBins
    let threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? 1.0
    let constant = try c.decodeIfPresent(Double.self, forKey: .averagingConstant) ?? 0.01
    guard let m = CalibrationMethod.named(name, bins: bins, threshold: threshold, averagingConstant: constant) else {
      throw DecodingError.dataCorruptedError(forKey: .name, in: c, debugDescription: "unknown calibration method '\(name)'")
    }
    do { try m.validate() } catch {
      throw DecodingError.dataCorruptedError(forKey: .name, in: c, debugDescription: "\(error)")
    }
    self = m
  }

  public func encode(to encoder: Encoder) throws {
    switch self {
    case .nonOverflow, .minDiffs, .minDiffsDepthwise, .minMax:
      var s = encoder.singleValueContainer()
      try s.encode(CalibrationMethod.names.first { CalibrationMethod.named($0) == self }!)
    case .movingAverageMinMax(let a):
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode("moving-average-min-max", forKey: .name)
      try c.encode(a, forKey: .averagingConstant)
    case .percentile(let b, let t):
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode("percentile", forKey: .name)
      try c.encode(b, forKey: .bins)
      try c.encode(t, forKey: .threshold)
    case .entropy(let b), .mse(let b):
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(self.isEntropy ? "entropy" : "mse", forKey: .name)
      try c.encode(b, forKey: .bins)
    }
  }

  var isEntropy: Bool { if case .entropy = self { true } else { false } }
}
