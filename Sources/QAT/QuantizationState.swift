import Foundation
import TensorCore

/// The quantization parameters of every tensor, as JSON: per tensor its bit width, signedness,
/// fix position (or scales and zero points), rounding rule and method, plus the configuration.
/// Writing and reading it reproduces the quantized model exactly.
public struct QuantizationState: Codable, Equatable, Sendable {
  /// Version 2 holds the batch-norm handling as `config.batch_norm`; version 1 (two flags) is
  /// still read.
  public static let schemaVersion = 2
  public static let readableVersions = 1...2

  public struct Entry: Codable, Equatable, Sendable {
    public var name: String
    public var role: FixNeuron.Role
    public var bits: Int
    public var signed: Bool
    /// "fixed_point", "fixed_point_per_channel" or "affine".
    public var kind: String
    public var fractionalBits: Int?
    public var fractionalBitsPerChannel: [Int]?
    public var scales: [Float]?
    public var zeroPoints: [Int]?
    public var axis: Int?
    public var narrowRange: Bool
    public var rounding: RoundingRule
    public var method: String
    /// Display form of the fix position ("Q4.3").
    public var q: String?
    /// The range-learning parameter the checkpoint holds for this tensor (TQT, LSQ), if any.
    public var learning: QuantSpec.Learning?

    enum CodingKeys: String, CodingKey, CaseIterable {
      case name, role, bits, signed, kind, axis, rounding, method, q, scales, learning
      case fractionalBits = "fractional_bits", fractionalBitsPerChannel = "fractional_bits_per_channel"
      case zeroPoints = "zero_points", narrowRange = "narrow_range"
    }

    init(name: String, role: FixNeuron.Role, bits: Int, signed: Bool, kind: String, narrowRange: Bool,
         rounding: RoundingRule, method: String) {
      (self.name, self.role, self.bits, self.signed, self.kind) = (name, role, bits, signed, kind)
      (self.narrowRange, self.rounding, self.method) = (narrowRange, rounding, method)
    }

    /// Strict: unknown keys and values of the wrong type are errors naming the key.
    public init(from decoder: Decoder) throws {
      try decoder.rejectUnknownKeys(CodingKeys.self)
      let c = try decoder.container(keyedBy: CodingKeys.self)
      name = try c.decode(String.self, forKey: .name)
      role = try c.decode(FixNeuron.Role.self, forKey: .role)
      bits = try c.decode(Int.self, forKey: .bits)
      signed = try c.decode(Bool.self, forKey: .signed)
      kind = try c.decode(String.self, forKey: .kind)
      fractionalBits = try c.decodeIfPresent(Int.self, forKey: .fractionalBits)
      fractionalBitsPerChannel = try c.decodeIfPresent([Int].self, forKey: .fractionalBitsPerChannel)
      scales = try c.decodeIfPresent([Float].self, forKey: .scales)
      zeroPoints = try c.decodeIfPresent([Int].self, forKey: .zeroPoints)
      axis = try c.decodeIfPresent(Int.self, forKey: .axis)
      narrowRange = try c.decode(Bool.self, forKey: .narrowRange)
      rounding = try c.decode(RoundingRule.self, forKey: .rounding)
      method = try c.decode(String.self, forKey: .method)
      q = try c.decodeIfPresent(String.self, forKey: .q)
      learning = try c.decodeIfPresent(QuantSpec.Learning.self, forKey: .learning)
    }
  }

  public var schemaVersion: Int
  /// A built-in architecture the float model is built from, by name ...
  public var architecture: String?
  /// ... or a graph file in the model's directory (an imported ONNX model), with the per-sample
  /// input shapes it was imported with when the file left them symbolic.
  public var graph: String?
  public var inputDims: [String: [Int]]?
  public var config: QuantizationConfig
  public var tensors: [Entry]
  /// Position changes made for the DPU's shift ranges.
  public var adjustments: [ShiftConstraints.Adjustment]
  /// True when a QAT model was saved with its Conv+BN layers already folded into convolutions
  /// (after training); it then loads with the post-training structure.
  public var batchNormFolded: Bool?

  enum CodingKeys: String, CodingKey, CaseIterable {
    case schemaVersion = "schema_version", architecture, config, tensors, adjustments, graph
    case inputDims = "input_dims"
    case batchNormFolded = "bn_folded"
  }

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.self)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let version = try c.decode(Int.self, forKey: .schemaVersion)
    guard Self.readableVersions.contains(version) else {
      throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c,
        debugDescription: "unsupported quantization schema version \(version) (this build reads \(Self.readableVersions.lowerBound)...\(Self.readableVersions.upperBound))")
    }
    schemaVersion = Self.schemaVersion
    architecture = try c.decodeIfPresent(String.self, forKey: .architecture)
    graph = try c.decodeIfPresent(String.self, forKey: .graph)
    inputDims = try c.decodeIfPresent([String: [Int]].self, forKey: .inputDims)
    if let graph, graph.isEmpty || graph.contains("/") || graph.hasPrefix(".") {
      throw DecodingError.dataCorruptedError(forKey: .graph, in: c, debugDescription: "graph '\(graph)' must name a file in the model's directory")
    }
    config = try c.decode(QuantizationConfig.self, forKey: .config)
    tensors = try c.decode([Entry].self, forKey: .tensors)
    adjustments = try c.decodeIfPresent([ShiftConstraints.Adjustment].self, forKey: .adjustments) ?? []
    batchNormFolded = try c.decodeIfPresent(Bool.self, forKey: .batchNormFolded)
  }

  /// Captures the frozen formats of a quantized model, and what builds its float graph.
  public init(_ qm: QuantizedModel, architecture: String?, graph: String? = nil, inputDims: [String: [Int]]? = nil) throws {
    schemaVersion = Self.schemaVersion
    self.architecture = architecture
    self.graph = graph
    self.inputDims = inputDims
    config = qm.config
    adjustments = qm.adjustments
    if config.trainable { batchNormFolded = !qm.weightLayers.contains { $0.layer.batchNorm != nil } }
    tensors = try qm.quantizers.map { q in
      guard let f = q.format else { throw QuantizationError("FixNeuron \(q.label) has no format; calibrate before saving") }
      var e = Entry(name: q.label, role: q.role, bits: f.bits, signed: f.signed, kind: "", narrowRange: q.spec.narrowRange,
                    rounding: q.spec.rounding, method: q.spec.method.description)
      e.learning = q.rangeLearning?.kind
      switch f {
      case .fixedPoint(let p): (e.kind, e.fractionalBits, e.q) = ("fixed_point", p.fractionalBits, p.description)
      case .fixedPointPerChannel(_, _, let fb, let axis): (e.kind, e.fractionalBitsPerChannel, e.axis) = ("fixed_point_per_channel", fb, axis)
      case .affine(let a): (e.kind, e.scales, e.zeroPoints, e.axis) = ("affine", a.scales, a.zeroPoints, a.axis)
      }
      return e
    }
  }

  /// The format an entry describes.
  public func format(of e: Entry) throws -> QuantFormat {
    func need<T>(_ v: T?, _ key: String) throws -> T {
      guard let v else { throw QuantizationError("quantization JSON: tensor \(e.name) (\(e.kind)) lacks \(key)") }
      return v
    }
    guard (2...16).contains(e.bits) else { throw QuantizationError("quantization JSON: tensor \(e.name) has bit width \(e.bits), expected 2...16") }
    func position(_ f: Int) throws -> Int {
      guard FixedPointFormat.fractionalBitsRange.contains(f) else {
        throw QuantizationError("quantization JSON: tensor \(e.name) has fractional_bits \(f), expected \(FixedPointFormat.fractionalBitsRange)")
      }
      return f
    }
    switch e.kind {
    case "fixed_point":
      return .fixedPoint(FixedPointFormat(bits: e.bits, signed: e.signed, fractionalBits: try position(try need(e.fractionalBits, "fractional_bits")),
                                          narrowRange: e.narrowRange))
    case "fixed_point_per_channel":
      return .fixedPointPerChannel(bits: e.bits, signed: e.signed,
                                   fractionalBits: try need(e.fractionalBitsPerChannel, "fractional_bits_per_channel").map(position),
                                   axis: try need(e.axis, "axis"))
    case "affine":
      let scales = try need(e.scales, "scales"), zeros = try need(e.zeroPoints, "zero_points")
      guard scales.count == zeros.count, scales.allSatisfy({ $0 > 0 && $0.isFinite }), e.axis != nil || scales.count == 1 else {
        throw QuantizationError("quantization JSON: tensor \(e.name): inconsistent scales / zero points")
      }
      let codes = CodeRange(bits: e.bits, signed: e.signed, narrowRange: e.narrowRange)
      if let z = zeros.first(where: { !(codes.qmin...codes.qmax).contains($0) }) {
        throw QuantizationError("quantization JSON: tensor \(e.name): zero point \(z) outside the \(e.bits)-bit range [\(codes.qmin), \(codes.qmax)]")
      }
      return .affine(AffineFormat(bits: e.bits, signed: e.signed, scales: scales, zeroPoints: zeros, axis: e.axis, narrowRange: e.narrowRange))
    default:
      throw QuantizationError("quantization JSON: tensor \(e.name) has unknown kind '\(e.kind)'")
    }
  }

  /// Sets every quantizer of `qm` from this state; names must match one to one. Learned ranges
  /// keep their parameter values when `keepLearnedRanges`.
  public func apply(to qm: QuantizedModel, keepLearnedRanges: Bool = false) throws {
    let quantizers = Dictionary(uniqueKeysWithValues: qm.quantizers.map { ($0.label, $0) })
    let stored = Set(tensors.map(\.name))
    let missing = quantizers.keys.filter { !stored.contains($0) }.sorted()
    let unexpected = tensors.map(\.name).filter { quantizers[$0] == nil }
    guard missing.isEmpty && unexpected.isEmpty else {
      throw QuantizationError("quantization JSON does not match the model: missing \(missing), unexpected \(unexpected)")
    }
    var seen = Set<String>()
    if let twice = tensors.first(where: { !seen.insert($0.name).inserted }) {
      throw QuantizationError("quantization JSON: tensor \(twice.name) appears twice")
    }
    // weight and bias shapes, for the per-channel axis and counts
    var shapes: [String: [Int]] = [:]
    for (_, layer) in qm.weightLayers {
      shapes[layer.weightQuantizer.label] = layer.core.weight.value.shape.dims
      if let b = layer.biasQuantizer, let bias = layer.core.bias { shapes[b.label] = bias.value.shape.dims }
    }
    for e in tensors {
      let q = quantizers[e.name]!
      let format = try format(of: e)
      if let axis = format.channelAxis {
        guard let shape = shapes[e.name] else {
          throw QuantizationError("quantization JSON: tensor \(e.name) has a per-channel format (axis \(axis)); only weights and biases can")
        }
        guard (0..<shape.count).contains(axis) else {
          throw QuantizationError("quantization JSON: tensor \(e.name) has axis \(axis), outside the axes 0..<\(shape.count) of its shape \(shape)")
        }
        guard format.channelCount == shape[axis] else {
          throw QuantizationError("quantization JSON: tensor \(e.name) has \(format.channelCount) channel parameters for the \(shape[axis]) channels of axis \(axis) of \(shape)")
        }
      }
      q.spec.rounding = e.rounding
      q.setFormat(format, keepLearnedRange: keepLearnedRanges)
    }
    qm.adjustments = adjustments
    try qm.setMode(.quantize)
  }

  public func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(path, try encoder.encode(self))
  }

  public static func read(from path: String) throws -> QuantizationState {
    let data: Data
    do { data = try readRegularFile(path, what: "quantization JSON", limit: 64 << 20) } catch { throw QuantizationError("\(error)") }
    do { return try JSONDecoder().decode(QuantizationState.self, from: data) } catch {
      throw QuantizationError("\(path): not a valid quantization JSON: \(describeDecodingError(error))")
    }
  }
}
