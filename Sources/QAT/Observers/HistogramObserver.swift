import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// Histogram-based thresholds: NVDLA's percentile (`bins`, `threshold`), TensorRT's entropy (KL)
/// and minimum expected squared error. A first pass finds max |x|; the second fills a histogram of
/// |x| over [0, max |x|] (signed values over [−max, max] for MSE), which merges by addition.
public struct HistogramObserver: Observer {
  public let spec: QuantSpec
  public private(set) var absMax = 0.0
  public private(set) var counts: [Double] = []
  public private(set) var count = 0
  private var secondPass = false

  public init(spec: QuantSpec) {
    // QuantizationConfig.validate / CalibrationMethod's decoder refuse bad parameters first.
    precondition(spec.method.usesBins && (try? spec.method.validate()) != nil, "HistogramObserver: invalid method \(spec.method)")
    self.spec = spec
  }

  var bins: Int {
    switch spec.method {
    case .percentile(let b, _), .entropy(let b): b
    case .mse(let b): 2 * b
    default: 0
    }
  }

  var signedHistogram: Bool { if case .mse = spec.method { true } else { false } }

  public mutating func observe(_ x: Tensor) throws {
    guard x.count > 0 else { return }
    if !secondPass {
      let (lo, hi) = try finiteRange(x)
      absMax = Swift.max(absMax, Double(Swift.max(Swift.abs(lo), Swift.abs(hi))))
      count += x.count
      return
    }
    let hi = Float(absMax > 0 ? absMax : 1)
    let (n, signed) = (bins, signedHistogram)
    var c = counts
    x.withUnsafeStorageBuffer { buf in
      c.withUnsafeMutableBufferPointer { cp in
        ck_histogram(buf.baseAddress, Int64(buf.count), signed ? -hi : 0, hi, Int32(n), signed ? 0 : 1, cp.baseAddress)
      }
    }
    counts = c
    count += x.count
  }

  public mutating func merge(_ other: any Observer) throws {
    guard let o = other as? HistogramObserver, o.secondPass == secondPass, o.absMax == absMax || !secondPass else {
      throw mismatch(self, other)
    }
    absMax = Swift.max(absMax, o.absMax)
    count += o.count
    if secondPass { counts = zip(counts, o.counts).map { $0 + $1 } }
  }

  public var needsSecondPass: Bool { !secondPass }

  public mutating func beginSecondPass() {
    secondPass = true
    count = 0
    counts = [Double](repeating: 0, count: bins)
  }

  var binWidth: Double { (absMax > 0 ? absMax : 1) / Double(signedHistogram ? bins / 2 : bins) }

  public func format() throws -> QuantFormat {
    guard count > 0 else { throw QuantizationError("no values observed") }
    guard secondPass, absMax > 0 else { return QAT.format(threshold: absMax, spec: spec) }
    switch spec.method {
    case .percentile(_, let t): return QAT.format(threshold: percentileThreshold(t), spec: spec)
    case .entropy: return QAT.format(threshold: entropyThreshold(), spec: spec)
    default: return mseFormat()
    }
  }

  /// Upper edge of the bin where the cumulative count reaches fraction t (t = 1: max |x|).
  func percentileThreshold(_ t: Double) -> Double {
    if t >= 1 { return absMax }
    let total = counts.reduce(0, +)
    var cumulative = 0.0
    for (k, c) in counts.enumerated() {
      cumulative += c
      if cumulative >= t * total { return Double(k + 1) * binWidth }
    }
    return absMax
  }

  /// TensorRT calibration: the clipping bin count i minimising KL(P‖Q), where P is the histogram
  /// clipped at i (outliers folded into the last bin) and Q is P quantized to the format's
  /// positive levels and expanded back. As NVIDIA's calibrator does, the zero bin takes its
  /// neighbour's count, so the spike of exact zeros after a ReLU does not dominate P.
  func entropyThreshold() -> Double {
    let levels = spec.signed ? 1 << (spec.bits - 1) : 1 << spec.bits
    guard bins > levels else { return absMax }
    var counts = self.counts
    if bins > 1 { counts[0] = counts[1] }
    var best = bins, bestKL = Double.infinity
    var suffix = [Double](repeating: 0, count: bins + 1)
    for k in stride(from: bins - 1, through: 0, by: -1) { suffix[k] = suffix[k + 1] + counts[k] }
    for i in levels...bins {
      var p = Array(counts[0..<i])
      p[i - 1] += suffix[i]
      let kl = klDivergence(p: p, sliced: counts[0..<i], levels: levels)
      if kl < bestKL { bestKL = kl; best = i }
    }
    return (Double(best) + 0.5) * binWidth
  }

  func klDivergence(p: [Double], sliced: ArraySlice<Double>, levels: Int) -> Double {
    let n = p.count
    var q = [Double](repeating: 0, count: n)
    let merged = Double(n) / Double(levels)
    for j in 0..<levels {
      let start = Int((Double(j) * merged).rounded(.down)), stop = j == levels - 1 ? n : Int((Double(j + 1) * merged).rounded(.down))
      guard stop > start else { continue }
      var total = 0.0, nonzero = 0
      for k in start..<stop { total += sliced[sliced.startIndex + k]; if p[k] != 0 { nonzero += 1 } }
      guard nonzero > 0 else { continue }
      for k in start..<stop where p[k] != 0 { q[k] = total / Double(nonzero) }
    }
    let ps = p.reduce(0, +), qs = q.reduce(0, +)
    guard ps > 0, qs > 0 else { return .infinity }
    var kl = 0.0
    for k in 0..<n where p[k] > 0 {
      let pk = p[k] / ps, qk = Swift.max(q[k] / qs, 1e-12)
      kl += pk * Glibc.log(pk / qk)
    }
    return kl
  }

  /// The format whose expected squared error over the histogram (bin centres) is least.
  func mseFormat() -> QuantFormat {
    let half = bins / 2, width = binWidth
    let centres = (0..<bins).map { (Double($0 - half) + 0.5) * width }
    func error(_ g: QuantGrid) -> Double {
      var e = 0.0
      for (k, c) in counts.enumerated() where c > 0 {
        let q = Swift.min(Swift.max(Double(g.rounding.round(Float(centres[k]) * g.inverseScale)), Double(g.qmin)), Double(g.qmax))
        let d = centres[k] - q * Double(g.scale)
        e += c * d * d
      }
      return e
    }
    var candidates: [QuantFormat] = []
    if spec.scheme == .powerOfTwo {
      let f0 = FixedPointFormat.nonOverflowFractionalBits(for: absMax, bits: spec.bits, signed: spec.signed, narrowRange: spec.narrowRange)
      candidates = (0...8).map { .fixedPoint(FixedPointFormat(bits: spec.bits, signed: spec.signed, fractionalBits: f0 + $0, narrowRange: spec.narrowRange)) }
    } else {
      candidates = stride(from: half, through: half / 16, by: -Swift.max(1, half / 128)).map {
        QAT.format(threshold: Double($0) * width, spec: spec)
      }
    }
    let errors = candidates.map { f -> Double in
      switch f {
      case .fixedPoint(let p): error(p.grid(rounding: spec.rounding))
      case .affine(let a): error(QuantGrid(scale: a.scales[0], qmin: Float(a.qmin), qmax: Float(a.qmax), rounding: spec.rounding))
      case .fixedPointPerChannel: .infinity
      }
    }
    let best = errors.indices.min { errors[$0] < errors[$1] }!
    return candidates[best]
  }
}
