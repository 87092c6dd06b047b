import CKernels
import TensorCore

/// Gathers statistics of the values a quantizer sees and turns them into a format. Statistics
/// merge across batches (and across observers of the same kind); histogram methods need the value
/// range first, so calibration runs a range pass and then a second pass (`beginSecondPass`).
public protocol Observer {
  var spec: QuantSpec { get }
  /// Adds a batch. Throws `QuantizationError` on NaN or infinity.
  mutating func observe(_ x: Tensor) throws
  /// Adds another observer's statistics (same kind and pass).
  mutating func merge(_ other: any Observer) throws
  /// True while the observer still needs another pass over the data.
  var needsSecondPass: Bool { get }
  mutating func beginSecondPass()
  /// Number of values observed (in the current pass).
  var count: Int { get }
  /// The format the statistics call for.
  func format() throws -> QuantFormat
}

/// A quantization failure caused by data or configuration; names the tensor or node.
public struct QuantizationError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The observer that implements a spec's calibration method.
public func makeObserver(for spec: QuantSpec) -> any Observer {
  switch spec.method {
  case .nonOverflow, .minMax: RangeObserver(spec: spec)
  case .movingAverageMinMax(let c): MovingAverageRangeObserver(spec: spec, averagingConstant: c)
  case .minDiffs, .minDiffsDepthwise: MinDiffsObserver(spec: spec)
  case .percentile, .entropy, .mse: HistogramObserver(spec: spec)
  }
}

/// Minimum and maximum of a tensor; throws if it holds NaN or infinity.
func finiteRange(_ x: Tensor, _ what: String = "tensor") throws -> (min: Float, max: Float) {
  var lo: Float = 0, hi: Float = 0
  x.withUnsafeStorageBuffer { ck_min_max($0.baseAddress, Int64($0.count), &lo, &hi) }
  guard lo.isFinite && hi.isFinite else {
    throw QuantizationError("\(what): non-finite values (min \(lo), max \(hi)) reached a quantizer")
  }
  return (lo, hi)
}

/// The format for a symmetric clipping threshold T (the range is [-T, T], or [0, T] unsigned).
func format(threshold: Double, spec: QuantSpec) -> QuantFormat {
  switch spec.scheme {
  case .powerOfTwo:
    let f = FixedPointFormat.nonOverflowFractionalBits(for: threshold, bits: spec.bits, signed: spec.signed,
                                                       narrowRange: spec.narrowRange)
    return .fixedPoint(FixedPointFormat(bits: spec.bits, signed: spec.signed, fractionalBits: f, narrowRange: spec.narrowRange))
  case .symmetric, .asymmetric:
    let scale = threshold > 0 ? Float(threshold / Double(spec.qmax)) : 1
    return .affine(AffineFormat(bits: spec.bits, signed: spec.signed, scales: [scale], zeroPoints: [0], axis: nil,
                                narrowRange: spec.narrowRange))
  }
}

/// The format for an observed [min, max] range: asymmetric specs use both ends, others the
/// larger magnitude.
func format(min lo: Double, max hi: Double, spec: QuantSpec) -> QuantFormat {
  guard spec.scheme == .asymmetric else { return format(threshold: Swift.max(Swift.abs(lo), Swift.abs(hi)), spec: spec) }
  let lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)  // zero must be representable exactly
  let scale = hi > lo ? Float((hi - lo) / Double(spec.qmax - spec.qmin)) : 1
  let zero = Swift.min(Swift.max(Double(spec.qmin) - (lo / Double(scale)).rounded(), Double(spec.qmin)), Double(spec.qmax))
  return .affine(AffineFormat(bits: spec.bits, signed: spec.signed, scales: [scale], zeroPoints: [Int(zero)], axis: nil,
                              narrowRange: spec.narrowRange))
}

func mismatch(_ a: any Observer, _ b: any Observer) -> QuantizationError {
  QuantizationError("cannot merge observer \(type(of: b)) into \(type(of: a))")
}
