import Autograd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Layers
import TensorCore

/// A node that quantizes its input (`FixNeuron`): a model that holds one is already prepared.
public protocol QuantizerNode: Layer {}

/// A fake-quantization node: in `bypass` it passes values through, in `calibrate` its observer
/// gathers statistics, in `quantize` it rounds onto its frozen format's grid (straight-through
/// gradients). Used for activations (as a graph node) and for weights and biases (inside
/// quantized layers).
public final class FixNeuron: QuantizerNode {
  public enum Mode: String, Sendable, Codable { case bypass, calibrate, quantize }
  public enum Role: String, Sendable, Codable { case input, activation, weight, bias }

  /// Name in errors and in the quantization JSON ("layer1.0.conv1.weight", "layer1.0.relu1").
  public let label: String
  public let role: Role
  public var spec: QuantSpec
  public private(set) var mode: Mode = .bypass
  public internal(set) var format: QuantFormat?
  public private(set) var observer: any Observer
  /// Learned range (QAT): LSQ's step or TQT's log2 threshold, created by
  /// `enableRangeLearning(_:)`; nil when the range was never learned. `freezeLearnedRange()`
  /// writes it into `format` (and keeps it, so training can go on).
  public internal(set) var rangeLearning: RangeLearning?
  /// The ReLU of the layer before is applied here, fused with the rounding: negative values clamp
  /// to code 0 (set by `Prepare` for conv / linear layers with a fused ReLU; saves two passes over
  /// the activation in training and gives the same values).
  public var clampsNegatives = false
  /// The first observation error during calibration (forward passes cannot throw); `freeze()`
  /// reports it.
  private var calibrationError: Error?

  public init(label: String, role: Role, spec: QuantSpec) {
    self.label = label
    self.role = role
    self.spec = spec
    self.observer = makeObserver(for: spec)
  }

  public var kind: String { "FixNeuron" }

  /// Switches mode. Quantizing needs a format: calibrate and `freeze()` first, or `setFormat(_:)`.
  public func setMode(_ newMode: Mode) throws {
    if newMode == .quantize && format == nil {
      throw QuantizationError("FixNeuron \(label): cannot quantize before calibration; run calibration and call freeze() (or load a quantization JSON with setFormat)")
    }
    if newMode == .calibrate && mode != .calibrate { calibrationError = nil }
    mode = newMode
  }

  /// Starts the observer's second pass (histogram methods).
  public func beginSecondPass() { observer.beginSecondPass() }
  public var needsSecondPass: Bool { observer.needsSecondPass }

  /// Fixes the format from the observed statistics.
  public func freeze() throws {
    if let calibrationError { throw QuantizationError("FixNeuron \(label): \(calibrationError)") }
    if let f = spec.fixedFractionalBits, spec.scheme == .powerOfTwo, spec.channelAxis == nil {
      format = .fixedPoint(FixedPointFormat(bits: spec.bits, signed: spec.signed, fractionalBits: f, narrowRange: spec.narrowRange))
      syncRangeParameter()
      return
    }
    do { format = try observer.format() } catch { throw QuantizationError("FixNeuron \(label): \(error)") }
    syncRangeParameter()
  }

  /// Sets the format directly (loading a quantization JSON, alignment, shift constraints). The
  /// learned range, if any, follows unless `keepLearnedRange` (resuming from a checkpoint that
  /// restored it).
  public func setFormat(_ f: QuantFormat, keepLearnedRange: Bool = false) {
    format = f
    if !keepLearnedRange { syncRangeParameter() }
  }

  /// Restarts statistics (recalibration).
  public func resetObserver() {
    observer = makeObserver(for: spec)
    calibrationError = nil
  }

  /// Observes values directly (weights and biases calibrate from their tensors).
  public func observe(_ x: Tensor) throws {
    do { try observer.observe(x) } catch { throw QuantizationError("FixNeuron \(label): \(error)") }
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    var x = single(inputs, "FixNeuron \(label)")
    if clampsNegatives && mode != .quantize { x = x.relu() }
    switch mode {
    case .bypass: return x
    case .calibrate:
      if calibrationError == nil {
        do { try observer.observe(x.detached) } catch { calibrationError = error }
      }
      return x
    case .quantize: return quantize(x)
    }
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    switch rangeLearning {
    case .tqt(let p): [("log2_threshold", p)]
    case .lsq(let p): [("step", p)]
    case nil: []
    }
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { 3 * output.count }
}

extension FixNeuron {
  /// Fake-quantizes x with the frozen format (or the learned range).
  public func quantize(_ x: Tensor) -> Tensor {
    guard let format else { preconditionFailure("FixNeuron \(label): quantize without a format (setMode guards this)") }
    if let learning = rangeLearning { return learnedQuantize(x, learning) }
    switch format {
    case .fixedPoint(let f):
      var grid = f.grid(rounding: spec.rounding)
      if clampsNegatives { grid.qmin = max(grid.qmin, 0) }
      return x.fakeQuantized(grid)
    case .fixedPointPerChannel(let bits, let signed, let fractionalBits, let axis):
      let f = FixedPointFormat(bits: bits, signed: signed, fractionalBits: 0)
      return x.fakeQuantized(axis: axis, scales: fractionalBits.map { Float(Double.pow2(-Double($0))) }, zeroPoints: nil,
                             qmin: clampsNegatives ? 0 : Float(f.qmin), qmax: Float(f.qmax), rounding: spec.rounding)
    case .affine(let a):
      let x = clampsNegatives ? x.relu() : x
      if let axis = a.axis {
        return x.fakeQuantized(axis: axis, scales: a.scales, zeroPoints: a.zeroPoints.map(Float.init),
                               qmin: Float(a.qmin), qmax: Float(a.qmax), rounding: spec.rounding)
      }
      return x.fakeQuantized(QuantGrid(scale: a.scales[0], zeroPoint: Float(a.zeroPoints[0]), qmin: Float(a.qmin),
                                       qmax: Float(a.qmax), rounding: spec.rounding))
    }
  }

  /// The per-tensor power-of-two format, when this quantizer has one.
  public var fixedPointFormat: FixedPointFormat? { format?.fixedPoint }
}
