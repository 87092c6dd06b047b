import Autograd
import Layers
import TensorCore

/// Post-training calibration: weights and biases from their values, activations from batches of
/// data, then the formats are frozen and aligned and every quantizer switched to `quantize`.
///
/// ```swift
/// let qm = try Prepare.quantize(model, config: QuantizationConfig())   // W8A8, the DPU's rules
/// try Calibration.calibrate(qm) { body in for batch in batches { try body(batch) } }
/// ```
public enum Calibration {
  public struct Report: Sendable {
    public var batches: Int
    public var images: Int
    public var passes: Int
    public var seconds: Double
  }

  /// Calibrates with the batches `forEachBatch` produces (it is called once per pass and must
  /// produce the same batches each time).
  @discardableResult
  public static func calibrate(_ qm: QuantizedModel,
                               forEachBatch: (_ body: (Tensor) throws -> Void) throws -> Void) throws -> Report {
    let start = monotonicClock()
    try calibrateWeights(qm)
    let activations = qm.activationQuantizers
    for q in activations { q.resetObserver(); try q.setMode(.calibrate) }
    for w in qm.weightLayers { try w.layer.weightQuantizer.setMode(.quantize); try w.layer.biasQuantizer?.setMode(.quantize) }
    qm.model.setPhase(.inference)
    var report = Report(batches: 0, images: 0, passes: 0, seconds: 0)
    var pass = 0
    repeat {
      if pass > 0 { for q in activations where q.needsSecondPass { q.beginSecondPass() } }
      try qm.model.withoutGradients {
        try forEachBatch { x in
          try qm.model.validate(input: x)
          _ = qm.model.forward([x])  // every output (models may have several)
          if pass == 0 { report.batches += 1; report.images += x.shape[0] }
        }
      }
      pass += 1
    } while activations.contains(where: \.needsSecondPass) && pass < 2
    guard report.images > 0 else { throw QuantizationError("calibration received no batches") }
    for q in activations { try q.freeze() }
    applyAlignment(qm)
    try Requantization.deriveBiasFormats(qm)
    try qm.setMode(.quantize)
    report.passes = pass
    report.seconds = monotonicClock() - start
    return report
  }

  /// Weight and bias quantizers calibrate from their parameter values.
  public static func calibrateWeights(_ qm: QuantizedModel) throws {
    for (_, layer) in qm.weightLayers {
      try calibrate(layer.weightQuantizer, layer.weightValue)
      if let bq = layer.biasQuantizer, let b = layer.biasValue { try calibrate(bq, b) }
    }
  }

  public static func calibrate(_ q: FixNeuron, _ value: Tensor) throws {
    if let axis = q.spec.channelAxis {
      q.setFormat(try PerChannel.format(value, axis: axis, spec: q.spec, label: q.label))
      return
    }
    q.resetObserver()
    try q.observe(value)
    if q.needsSecondPass {
      q.beginSecondPass()
      try q.observe(value)
    }
    try q.freeze()
  }

  /// Quantizers that must share a position (a concat's inputs and output, a pool's or a
  /// padding's input and output) take the coarsest position among them. Groups that share a
  /// member are one constraint, so no rule undoes another (vai_q's align_concat / align_pool /
  /// align_pad, iterated to a fixed point).
  public static func applyAlignment(_ qm: QuantizedModel) {
    var parent: [ObjectIdentifier: ObjectIdentifier] = [:]
    var members: [ObjectIdentifier: FixNeuron] = [:]
    func find(_ q: ObjectIdentifier) -> ObjectIdentifier {
      var r = q
      while let p = parent[r], p != r { r = p }
      return r
    }
    func join(_ a: FixNeuron, _ b: FixNeuron) {
      let (ia, ib) = (ObjectIdentifier(a), ObjectIdentifier(b))
      members[ia] = a
      members[ib] = b
      if parent[ia] == nil { parent[ia] = ia }
      if parent[ib] == nil { parent[ib] = ib }
      let (ra, rb) = (find(ia), find(ib))
      if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
    }
    for group in qm.alignmentGroups { for q in group.dropFirst() { join(group[0], q) } }
    for (out, input) in qm.positionTies { join(out, input) }
    let components = Dictionary(grouping: members.keys, by: find)
    for ids in components.values {
      let group = ids.map { members[$0]! }
      let formats = group.compactMap(\.fixedPointFormat)
      guard formats.count == group.count, let coarsest = formats.map(\.fractionalBits).min() else { continue }
      for q in group where q.fixedPointFormat!.fractionalBits != coarsest {
        var f = q.fixedPointFormat!
        f.fractionalBits = coarsest
        q.setFormat(.fixedPoint(f))
      }
    }
  }
}

/// Per-channel weight formats: each channel slice calibrated on its own.
enum PerChannel {
  static func format(_ t: Tensor, axis: Int, spec: QuantSpec, label: String) throws -> QuantFormat {
    let channels = t.shape[axis]
    var perTensor = spec
    perTensor.channelAxis = nil
    var scales: [Float] = [], zeros: [Int] = [], positions: [Int] = []
    for c in 0..<channels {
      var ranges = [SliceRange](repeating: .all, count: t.rank)
      ranges[axis] = SliceRange(c, c + 1)
      let slice = Kernels.slice(t, ranges)
      var obs = makeObserver(for: perTensor)
      do {
        try obs.observe(slice)
        if obs.needsSecondPass { obs.beginSecondPass(); try obs.observe(slice) }
        switch try obs.format() {
        case .affine(let a): scales.append(a.scales[0]); zeros.append(a.zeroPoints[0])
        case .fixedPoint(let f): positions.append(f.fractionalBits)
        case .fixedPointPerChannel: break
        }
      } catch { throw QuantizationError("\(label) channel \(c): \(error)") }
    }
    if spec.scheme == .powerOfTwo {
      return .fixedPointPerChannel(bits: spec.bits, signed: spec.signed, fractionalBits: positions, axis: axis)
    }
    return .affine(AffineFormat(bits: spec.bits, signed: spec.signed, scales: scales, zeroPoints: zeros, axis: axis,
                                narrowRange: spec.narrowRange))
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
func monotonicClock() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
