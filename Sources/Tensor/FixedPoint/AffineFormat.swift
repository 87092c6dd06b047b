/// Affine integer quantization: q = clamp(round(x / scale) + zeroPoint, qmin, qmax), per tensor or
/// per channel along `axis`. Symmetric formats have zero points of 0 (NVDLA int8, weights).
public struct AffineFormat: Hashable, Sendable, Codable {
  public var bits: Int
  public var signed: Bool
  public var scales: [Float]
  public var zeroPoints: [Int]
  /// Channel axis for per-channel formats (nil: per tensor, one scale).
  public var axis: Int?
  public var narrowRange: Bool

  public init(bits: Int, signed: Bool, scales: [Float], zeroPoints: [Int], axis: Int?, narrowRange: Bool = false) {
    precondition((2...16).contains(bits), "AffineFormat: bit width must be 2...16, got \(bits)")
    precondition(!scales.isEmpty && scales.count == zeroPoints.count, "AffineFormat: \(scales.count) scales, \(zeroPoints.count) zero points")
    precondition(axis != nil || scales.count == 1, "AffineFormat: several scales need an axis")
    precondition(scales.allSatisfy { $0 > 0 && $0.isFinite }, "AffineFormat: scales must be positive and finite")
    self.bits = bits
    self.signed = signed
    self.scales = scales
    self.zeroPoints = zeroPoints
    self.axis = axis
    self.narrowRange = narrowRange
  }

  public var qmin: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmin }
  public var qmax: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmax }
  public var isPerChannel: Bool { axis != nil }
  public var isSymmetric: Bool { zeroPoints.allSatisfy { $0 == 0 } }
}

/// The frozen quantization of one tensor.
public enum QuantFormat: Hashable, Sendable, Codable {
  /// Power-of-two per tensor.
  case fixedPoint(FixedPointFormat)
  /// Power-of-two per channel along `axis`, one position per channel.
  case fixedPointPerChannel(bits: Int, signed: Bool, fractionalBits: [Int], axis: Int)
  case affine(AffineFormat)

  public var bits: Int {
    switch self {
    case .fixedPoint(let f): f.bits
    case .fixedPointPerChannel(let b, _, _, _): b
    case .affine(let a): a.bits
    }
  }

  public var signed: Bool {
    switch self {
    case .fixedPoint(let f): f.signed
    case .fixedPointPerChannel(_, let s, _, _): s
    case .affine(let a): a.signed
    }
  }

  /// The channel axis of a per-channel format (nil per tensor).
  public var channelAxis: Int? {
    switch self {
    case .fixedPoint: nil
    case .fixedPointPerChannel(_, _, _, let axis): axis
    case .affine(let a): a.axis
    }
  }

  /// How many scales / positions the format holds (1 per tensor).
  public var channelCount: Int {
    switch self {
    case .fixedPoint: 1
    case .fixedPointPerChannel(_, _, let f, _): f.count
    case .affine(let a): a.scales.count
    }
  }

  /// The per-tensor power-of-two format, if this is one.
  public var fixedPoint: FixedPointFormat? {
    if case .fixedPoint(let f) = self { return f }
    return nil
  }
}
