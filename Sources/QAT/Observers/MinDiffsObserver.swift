import CKernels
import TensorCore

/// vai_q's min-diffs (method 1): among power-of-two positions from the non-overflow one up to
/// `searchWidth` finer, the one with the least squared quantization error over all observed values
/// (saturation allowed). Errors are computed exactly on the data (second pass), with the spec's
/// rounding. For float-scale specs the candidates are the non-overflow scale shrunk by 2^(-k/4).
public struct MinDiffsObserver: Observer {
  public let spec: QuantSpec
  public static let searchWidth = 8
  public private(set) var absMax = 0.0
  public private(set) var count = 0
  /// Squared error per candidate (second pass).
  public private(set) var errors: [Double] = []
  private var secondPass = false

  public init(spec: QuantSpec) { self.spec = spec }

  public mutating func observe(_ x: Tensor) throws {
    guard x.count > 0 else { return }
    if !secondPass {
      let (lo, hi) = try finiteRange(x)
      absMax = Swift.max(absMax, Double(Swift.max(Swift.abs(lo), Swift.abs(hi))))
      count += x.count
      return
    }
    let grids = candidates()
    var batchErrors = [Double](repeating: 0, count: grids.count)
    let (inv, scales) = (grids.map(\.inverseScale), grids.map(\.scale))
    x.withUnsafeStorageBuffer { buf in
      ck_quant_sq_errors(buf.baseAddress, Int64(buf.count), Int32(grids.count), inv, scales, 0, grids[0].qmin, grids[0].qmax,
                         grids[0].rounding.c, &batchErrors)
    }
    errors = zip(errors, batchErrors).map { $0 + $1 }
    count += x.count
  }

  public mutating func merge(_ other: any Observer) throws {
    guard let o = other as? MinDiffsObserver, o.secondPass == secondPass else { throw mismatch(self, other) }
    absMax = Swift.max(absMax, o.absMax)
    count += o.count
    if secondPass { errors = zip(errors, o.errors).map { $0 + $1 } }
  }

  public var needsSecondPass: Bool { !secondPass }

  public mutating func beginSecondPass() {
    secondPass = true
    count = 0
    errors = [Double](repeating: 0, count: candidates().count)
  }

  /// The non-overflow format and finer alternatives.
  func candidateFormats() -> [QuantFormat] {
    switch spec.scheme {
    case .powerOfTwo:
      let f0 = FixedPointFormat.nonOverflowFractionalBits(for: absMax, bits: spec.bits, signed: spec.signed, narrowRange: spec.narrowRange)
      return (0...Self.searchWidth).map {
        .fixedPoint(FixedPointFormat(bits: spec.bits, signed: spec.signed, fractionalBits: Swift.min(64, f0 + $0), narrowRange: spec.narrowRange))
      }
    case .symmetric, .asymmetric:
      return (0...(2 * Self.searchWidth)).map {
        QAT.format(threshold: absMax * Double.pow2(-Double($0) / 4), spec: QuantSpec(bits: spec.bits, signed: spec.signed, scheme: .symmetric,
                   rounding: spec.rounding, narrowRange: spec.narrowRange))
      }
    }
  }

  func candidates() -> [QuantGrid] {
    candidateFormats().map { f in
      switch f {
      case .fixedPoint(let p): p.grid(rounding: spec.rounding)
      case .affine(let a): QuantGrid(scale: a.scales[0], qmin: Float(a.qmin), qmax: Float(a.qmax), rounding: spec.rounding)
      case .fixedPointPerChannel: preconditionFailure("per-channel candidates are built per channel")
      }
    }
  }

  public func format() throws -> QuantFormat {
    guard count > 0 else { throw QuantizationError("no values observed") }
    let formats = candidateFormats()
    guard secondPass, let best = errors.indices.min(by: { errors[$0] < errors[$1] || (errors[$0] == errors[$1] && $0 < $1) }) else {
      return formats[0]
    }
    return formats[best]
  }
}

extension Double {
  static func pow2(_ e: Double) -> Double { Glibc.pow(2, e) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
