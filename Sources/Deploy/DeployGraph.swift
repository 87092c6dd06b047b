import TensorCore

/// The deploy graph: what the hardware (and the integer simulator) runs. Every tensor carries its
/// fixed-point format; conv / linear nodes carry integer weights (in the HDF5 payload) and their
/// shift_cut / shift_bias. Encoded as JSON with a schema version; decoding is strict.
public struct DeployGraph: Codable, Equatable, Sendable {
  public static let schemaVersion = 1
  public static let manifestFile = "deploy.json"
  public static let payloadFile = "weights.h5"
  /// The QDQ ONNX form beside them (`qat export --format qdq`).
  public static let qdqFile = "model.onnx"
  /// Every file a deploy directory is made of (deploy graph, payload, the summaries other tools
  /// read, the preprocessing, the QDQ form).
  public static let directoryFiles: Set<String> = [manifestFile, payloadFile, qdqFile, "quant_info.json", "int8.json", "xfdnn.json",
                                                  "calibration.cache", "preprocessing.json"]

  public var schemaVersion: Int
  public var producer: String
  /// Tensor names fed by the caller, and those returned.
  public var inputs: [String]
  public var outputs: [String]
  public var tensors: [String: DeployTensor]
  /// In execution order.
  public var nodes: [DeployNode]
  /// Fix-position changes made at export to satisfy the hardware's shift ranges.
  public var adjustments: [ShiftAdjustment]

  enum CodingKeys: String, CodingKey {
    case schemaVersion = "schema_version", producer, inputs, outputs, tensors, nodes, adjustments
  }

  public init(inputs: [String], outputs: [String], tensors: [String: DeployTensor], nodes: [DeployNode],
              adjustments: [ShiftAdjustment] = []) {
    schemaVersion = Self.schemaVersion
    producer = "swift-qat"
    self.inputs = inputs
    self.outputs = outputs
    self.tensors = tensors
    self.nodes = nodes
    self.adjustments = adjustments
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
    guard schemaVersion == Self.schemaVersion else {
      throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c,
        debugDescription: "deploy schema version \(schemaVersion) is not supported (this build reads \(Self.schemaVersion))")
    }
    producer = try c.decode(String.self, forKey: .producer)
    inputs = try c.decode([String].self, forKey: .inputs)
    outputs = try c.decode([String].self, forKey: .outputs)
    tensors = try c.decode([String: DeployTensor].self, forKey: .tensors)
    nodes = try c.decode([DeployNode].self, forKey: .nodes)
    adjustments = try c.decodeIfPresent([ShiftAdjustment].self, forKey: .adjustments) ?? []
  }

  /// Checks references and shapes; throws naming the first inconsistency.
  public func validate() throws {
    var defined = Set<String>()
    for (what, names) in [("input", inputs), ("output", outputs), ("node name", nodes.map(\.name))] {
      var seen = Set<String>()
      if let twice = names.first(where: { !seen.insert($0).inserted }) { throw DeployError("\(what) \(twice) is listed twice") }
    }
    for name in inputs where tensors[name] == nil { throw DeployError("input \(name) has no tensor entry") }
    for name in inputs where !nodes.contains(where: { $0.op == .input && $0.output == name }) {
      throw DeployError("input \(name) has no input node")
    }
    for node in nodes {
      if node.op == .input && !inputs.contains(node.output) {
        throw DeployError("input node \(node.name) writes \(node.output), which is not listed in inputs")
      }
      for i in node.inputs where !defined.contains(i) {
        throw DeployError("node \(node.name) (\(node.op.rawValue)) reads \(i) before it is produced")
      }
      guard tensors[node.output] != nil else { throw DeployError("node \(node.name) writes \(node.output), which has no tensor entry") }
      guard defined.insert(node.output).inserted else { throw DeployError("tensor \(node.output) is written twice (node \(node.name))") }
      try node.validate(self)
    }
    for o in outputs where !defined.contains(o) { throw DeployError("output \(o) is never produced") }
  }
}

/// A tensor of the deploy graph: per-sample shape and fixed-point format.
public struct DeployTensor: Codable, Equatable, Sendable {
  public var shape: [Int]
  public var bits: Int
  public var signed: Bool
  public var fractionalBits: Int
  public var narrowRange: Bool
  /// Rounding used when this tensor is produced.
  public var rounding: RoundingRule

  enum CodingKeys: String, CodingKey, CaseIterable {
    case shape, bits, signed, rounding
    case fractionalBits = "fractional_bits", narrowRange = "narrow_range"
  }

  /// The most values one sample of a tensor may hold (2^28: a 16,384 × 16,384 map).
  public static let maxElements = 1 << 28

  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.self)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    shape = try c.decode([Int].self, forKey: .shape)
    bits = try c.decode(Int.self, forKey: .bits)
    signed = try c.decode(Bool.self, forKey: .signed)
    fractionalBits = try c.decode(Int.self, forKey: .fractionalBits)
    narrowRange = try c.decodeIfPresent(Bool.self, forKey: .narrowRange) ?? false
    rounding = try c.decode(RoundingRule.self, forKey: .rounding)
    func refuse(_ key: CodingKeys, _ what: String) -> Error { DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: what) }
    guard FixedPointFormat.bitsRange.contains(bits) else { throw refuse(.bits, "bits \(bits) outside \(FixedPointFormat.bitsRange)") }
    guard FixedPointFormat.fractionalBitsRange.contains(fractionalBits) else {
      throw refuse(.fractionalBits, "fractional_bits \(fractionalBits) outside \(FixedPointFormat.fractionalBitsRange)")
    }
    guard shape.count <= 8, shape.allSatisfy({ $0 >= 1 && $0 <= Self.maxElements }) else {
      throw refuse(.shape, "shape \(shape) needs at most 8 axes of at least 1")
    }
    let (count, overflow) = shape.reduce((1, false)) { acc, d in
      let (p, o) = acc.0.multipliedReportingOverflow(by: d)
      return (p, acc.1 || o)
    }
    guard !overflow && count <= Self.maxElements else { throw refuse(.shape, "shape \(shape) holds more than \(Self.maxElements) values per sample") }
  }

  public init(shape: [Int], format: FixedPointFormat, rounding: RoundingRule) {
    self.shape = shape
    bits = format.bits
    signed = format.signed
    fractionalBits = format.fractionalBits
    narrowRange = format.narrowRange
    self.rounding = rounding
  }

  public var format: FixedPointFormat {
    FixedPointFormat(bits: bits, signed: signed, fractionalBits: fractionalBits, narrowRange: narrowRange)
  }
}

/// A position change made to satisfy a DPU shift constraint.
public struct ShiftAdjustment: Codable, Equatable, Sendable {
  public var node: String
  /// Which tensor's position moved ("output", "weight", "bias").
  public var tensor: String
  public var from: Int
  public var to: Int
  public var reason: String

  public init(node: String, tensor: String, from: Int, to: Int, reason: String) {
    self.node = node
    self.tensor = tensor
    self.from = from
    self.to = to
    self.reason = reason
  }
}

/// A malformed deploy graph or payload, or an op the exporter / simulator cannot handle.
public struct DeployError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
