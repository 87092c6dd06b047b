import DeployFormat
import Foundation
import TensorCore

/// The state of one QDQ write: nodes and initializers so far, and each deploy tensor's
/// quantized (int8 / uint8) and dequantized (float) value names.
struct QDQBuilder {
  let graph: DeployGraph
  let payload: DeployPayload
  let options: QDQWriter.Options
  var report = QDQWriter.Report()
  var nodes: [Onnx_NodeProto] = []
  var initializers: [Onnx_TensorProto] = []
  /// Deploy tensor → its QuantizeLinear output (the codes) and its DequantizeLinear output.
  var codes: [String: String] = [:]
  var values: [String: String] = [:]
  /// Value and initializer names taken so far (a clash gets a `#k` suffix).
  var taken: Set<String> = []

  init(_ graph: DeployGraph, _ payload: DeployPayload, _ options: QDQWriter.Options) throws {
    guard ONNXWriter.supportedOpsets.contains(options.opset) else {
      throw ONNXError("QDQ writer: opset \(options.opset) is not supported (writes \(ONNXWriter.supportedOpsets.lowerBound)–\(ONNXWriter.supportedOpsets.upperBound))")
    }
    (self.graph, self.payload, self.options) = (graph, payload, options)
    taken = Set(graph.inputs)
  }

  /// `base`, or `base#1`, `base#2`, ... when taken.
  mutating func unique(_ base: String) -> String {
    var name = base, k = 1
    while taken.contains(name) { name = "\(base)#\(k)"; k += 1 }
    taken.insert(name)
    return name
  }

  mutating func build() throws -> Onnx_ModelProto {
    var g = Onnx_GraphProto()
    g.name = "swift-qat QDQ"
    for node in graph.nodes { try emit(node) }
    for name in graph.inputs {
      g.input.append(ONNXWriter.valueInfo(name, Shape([1] + (graph.tensors[name]?.shape ?? [])), batch: "N"))
    }
    let exposed = options.exposeEveryTensor ? graph.nodes.map(\.output) : graph.outputs
    for name in exposed {
      g.output.append(ONNXWriter.valueInfo(values[name]!, Shape([1] + graph.tensors[name]!.shape), batch: "N"))
    }
    g.node = nodes
    g.initializer = initializers
    var m = Onnx_ModelProto()
    m.irVersion = ONNXWriter.irVersion(forOpset: options.opset)
    m.producerName = "swift-qat"
    var opset = Onnx_OperatorSetIdProto()
    opset.version = Int64(options.opset)
    m.opsetImport = [opset]
    m.graph = g
    return m
  }

  // MARK: writing nodes and constants

  @discardableResult
  mutating func node(_ op: String, _ name: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = [], output: String? = nil) -> String {
    var n = Onnx_NodeProto()
    n.opType = op
    n.name = name
    n.input = inputs
    let value = unique(output ?? name + ":out")
    n.output = [value]
    n.attribute = attributes
    nodes.append(n)
    return value
  }

  mutating func floats(_ base: String, _ v: [Float], shape: [Int]) -> String {
    let name = unique(base)
    initializers.append(ONNXNodeWriter.floatTensor(name, v, shape: shape))
    return name
  }

  mutating func scalar(_ name: String, _ v: Float) -> String { floats(name, [v], shape: []) }

  mutating func ints(_ base: String, _ v: [Int], shape: [Int]? = nil, type: Onnx_TensorProto.DataType = .int64) -> String {
    let name = unique(base)
    var t = Onnx_TensorProto()
    t.name = name
    t.dataType = Int32(type.rawValue)
    t.dims = (shape ?? [v.count]).map(Int64.init)
    switch type {
    case .int64: t.int64Data = v.map(Int64.init)
    case .int32, .int8, .uint8, .int16: t.int32Data = v.map { Int32($0) }
    default: preconditionFailure("QDQ writer: integer type \(type)")
    }
    initializers.append(t)
    return name
  }

  static func power(_ e: Int) -> Float { Float(Double(sign: .plus, exponent: e, significand: 1)) }

  /// DequantizeLinear of integer codes stored as an initializer (int8 up to 8 bits, else int32).
  mutating func dequantizedInitializer(_ name: String, _ entry: [Int32], shape: [Int], bits: Int, fractionalBits: Int) -> String {
    let type: Onnx_TensorProto.DataType = bits <= 8 ? .int8 : .int32
    let q = ints(name + "/codes", entry.map(Int.init), shape: shape, type: type)
    let s = scalar(name + "/scale", Self.power(-fractionalBits))
    let z = ints(name + "/zero_point", [0], shape: [], type: type)
    return node("DequantizeLinear", name + "/dq", [q, s, z])
  }

  /// DequantizeLinear of integer codes with one scale per output channel (axis 0), zero points 0.
  mutating func dequantizedInitializer(_ name: String, _ entry: [Int32], shape: [Int], bits: Int, scales: [Float]) -> String {
    let type: Onnx_TensorProto.DataType = bits <= 8 ? .int8 : .int32
    let q = ints(name + "/codes", entry.map(Int.init), shape: shape, type: type)
    let s = floats(name + "/scale", scales, shape: [scales.count])
    let z = ints(name + "/zero_point", [Int](repeating: 0, count: scales.count), shape: [scales.count], type: type)
    return node("DequantizeLinear", name + "/dq", [q, s, z], [Attr.int("axis", 0)])
  }

  // MARK: quantizing a tensor

  /// QuantizeLinear → DequantizeLinear of the float `value` into deploy tensor `name`'s format:
  /// a Clip first where the format is narrower than int8 / uint8, the rounding rule written out
  /// under `.exact`.
  mutating func quantize(_ value: String, into name: String) throws {
    guard let t = graph.tensors[name] else { throw ONNXError("QDQ writer: tensor \(name) has no format") }
    let f = t.format
    guard f.bits <= 8 else {
      throw ONNXError("QDQ writer: tensor \(name) has \(f.bits) bits; QuantizeLinear to int16 needs opset 21 (this writer writes 13–19: 8-bit activations only)")
    }
    report.quantizedTensors += 1
    if t.rounding != .halfToEven { report.otherRounding.append(name) }
    var v = value
    if options.rounding == .exact && t.rounding != .halfToEven { v = try rounded(v, name, t.rounding, f.fractionalBits) }
    let full = f.signed ? (-128, 127) : (0, 255)
    if (f.qmin, f.qmax) != full {
      v = node("Clip", "\(name)/clip", [v, scalar("\(name)/qmin", Float(f.qmin) * Self.power(-f.fractionalBits)),
                                         scalar("\(name)/qmax", Float(f.qmax) * Self.power(-f.fractionalBits))])
    }
    let s = scalar("\(name)/scale", Self.power(-f.fractionalBits))
    let z = ints("\(name)/zero_point", [0], shape: [], type: f.signed ? .int8 : .uint8)
    codes[name] = node("QuantizeLinear", "\(name)/quantize", [v, s, z], output: "\(name)/q")
    values[name] = node("DequantizeLinear", "\(name)/dequantize", [codes[name]!, s, z], output: QDQWriter.valueName(name, in: graph))
  }

  /// v rounded to 2^−f by `rule` in float ops (then on the grid, so QuantizeLinear only saturates).
  mutating func rounded(_ v: String, _ name: String, _ rule: RoundingRule, _ f: Int) throws -> String {
    let up = node("Mul", "\(name)/to_grid", [v, scalar("\(name)/grid", Self.power(f))])
    let integral: String
    switch rule {
    case .halfUp: integral = node("Floor", "\(name)/floor", [node("Add", "\(name)/half", [up, scalar("\(name)/rounding_half", 0.5)])])
    case .floor: integral = node("Floor", "\(name)/floor", [up])
    case .ceil: integral = node("Ceil", "\(name)/ceil", [up])
    case .halfToEven: return v
    case .halfAwayFromZero, .towardZero:
      throw ONNXError("QDQ writer: tensor \(name) rounds \(rule.rawValue), which the exact QDQ form does not write; use the native rounding")
    }
    return node("Mul", "\(name)/from_grid", [integral, scalar("\(name)/cell", Self.power(-f))])
  }

  func input(_ node: DeployNode, _ k: Int) throws -> String {
    guard let v = values[node.inputs[k]] else { throw ONNXError("QDQ writer: node \(node.name) reads \(node.inputs[k]) before it is written") }
    return v
  }

  func tensor(_ name: String) throws -> DeployTensor {
    guard let t = graph.tensors[name] else { throw ONNXError("QDQ writer: tensor \(name) has no format") }
    return t
  }
}
