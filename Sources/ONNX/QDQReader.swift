import Foundation

/// A tensor's quantization as a QuantizeLinear / DequantizeLinear pair (or the DequantizeLinear of
/// an integer initializer) states it: q = saturate(round(x / scale) + zero_point), x' = (q − zero_point) · scale.
public struct QDQFormat: Equatable, Sendable, CustomStringConvertible {
  public var bits: Int
  public var signed: Bool
  /// One scale (per tensor) or one per index of `axis` (per channel).
  public var scales: [Float]
  public var zeroPoints: [Int]
  /// The per-channel axis of the tensor as the file lays it out; nil per tensor.
  public var axis: Int?
  /// The node that states it (for messages).
  public var node: String

  /// Fractional bits per scale when every scale is an exact power of two and every zero point 0:
  /// scale 2^−f, the fixed-point format with f fractional bits.
  public var fractionalBits: [Int]? {
    guard zeroPoints.allSatisfy({ $0 == 0 }) else { return nil }
    var out: [Int] = []
    for s in scales {
      guard s.isNormal, s > 0, s.significand == 1 else { return nil }
      out.append(-Int(s.exponent))
    }
    return out
  }

  /// Same quantization (the node aside).
  public func sameGrid(_ o: QDQFormat) -> Bool {
    bits == o.bits && signed == o.signed && scales == o.scales && zeroPoints == o.zeroPoints && axis == o.axis
  }

  public var description: String {
    let type = (signed ? "int" : "uint") + "\(bits)"
    if let f = fractionalBits, f.count == 1 { return "\(type) scale 2^\(-f[0])" }
    let s = scales.count == 1 ? "scale \(scales[0]) zero point \(zeroPoints[0])" : "\(scales.count) scales along axis \(axis ?? 0)"
    return "\(type) \(s)"
  }

  var qmin: Int { signed ? -(1 << (bits - 1)) : 0 }
  var qmax: Int { signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }
}

/// A QDQ model (ONNX Runtime `quantize_static`, Quark, NVIDIA modelopt) split into
/// the float graph it computes on the dequantized values and the quantization of its tensors.
public struct QDQModel {
  /// The graph without QuantizeLinear / DequantizeLinear: weights as their dequantized float
  /// values, every reader of a dequantized tensor reading the tensor before its pair.
  public var float: ONNXFile
  /// Runtime tensors of `float` (by value name) with a Q / DQ pair in the file.
  public var activations: [String: QDQFormat]
  /// Initializers of `float` that the file gave as integers through DequantizeLinear (or as floats
  /// through a Q / DQ pair), by initializer name.
  public var parameters: [String: QDQFormat]
  /// A node of `float`.
  public struct Node: Sendable {
    public var name: String
    public var opType: String
    public var inputs: [String]
    public var outputs: [String]
  }
  /// The node of `float` that produces each runtime value, and the nodes that read it.
  public var producer: [String: Node] = [:]
  public var readers: [String: [Node]] = [:]
  /// The graph inputs and node outputs in the file's order.
  public var valueOrder: [String] = []
}

/// Reads QDQ ONNX files: `split` removes the pairs and records what they quantize.
public enum QDQReader {
  /// Whether a file holds QuantizeLinear or DequantizeLinear nodes.
  public static func isQDQ(_ file: ONNXFile) -> Bool {
    file.graph.node.contains { ($0.domain.isEmpty || $0.domain == "ai.onnx") && ($0.opType == "QuantizeLinear" || $0.opType == "DequantizeLinear") }
  }

  public static func split(_ file: ONNXFile) throws -> QDQModel {
    var reader = Splitter(file: file)
    return try reader.run()
  }
}

private struct Splitter {
  let file: ONNXFile
  var initializers: [String: Onnx_TensorProto] = [:]
  var cache: [String: Data] = [:]
  /// A DequantizeLinear output -> the value it stands for.
  var alias: [String: String] = [:]
  /// A QuantizeLinear output -> its input and format.
  var pending: [String: (input: String, format: QDQFormat)] = [:]
  var activations: [String: QDQFormat] = [:]
  var parameters: [String: QDQFormat] = [:]
  var floatInitializers: [String: Onnx_TensorProto] = [:]
  var kept: [Onnx_NodeProto] = []

  init(file: ONNXFile) {
    self.file = file
    for t in file.graph.initializer { initializers[t.name] = t }
  }

  func isQDQ(_ n: Onnx_NodeProto, _ op: String) -> Bool { n.opType == op && (n.domain.isEmpty || n.domain == "ai.onnx") }

  mutating func run() throws -> QDQModel {
    let g = file.graph
    for (k, n) in g.node.enumerated() {
      let name = n.name.isEmpty ? "\(n.opType)_\(k)" : n.name
      if isQDQ(n, "QuantizeLinear") {
        guard n.input.count >= 2, n.output.count == 1 else { throw fail(name, "QuantizeLinear needs x, y_scale and one output") }
        let x = resolve(n.input[0])
        let f = try format(n, name, codesType: nil)
        pending[n.output[0]] = (x, f)
      } else if isQDQ(n, "DequantizeLinear") {
        guard n.input.count >= 2, n.output.count == 1 else { throw fail(name, "DequantizeLinear needs x, x_scale and one output") }
        try dequantize(n, name)
      } else {
        for i in n.input where pending[i] != nil {
          throw fail(name, "\(n.opType) reads '\(i)', the integer output of a QuantizeLinear: only the QDQ form (QuantizeLinear → DequantizeLinear → float op) is read, not integer operators (QOperator form)")
        }
        var copy = n
        copy.name = name  // the importer's name for an unnamed node, from its place in the file
        copy.input = n.input.map { $0.isEmpty ? $0 : resolve($0) }
        kept.append(copy)
      }
    }
    var graph = g
    // graph outputs keep their names: the value a pair stood for takes the output's name
    var rename: [String: String] = [:]
    for o in g.output {
      if pending[o.name] != nil { throw ONNXError("\(file.path): graph output '\(o.name)' holds integer codes (a QuantizeLinear output); expected a dequantized float output") }
      guard let x = alias[o.name] else { continue }
      guard !g.input.contains(where: { $0.name == x }) else { throw ONNXError("\(file.path): graph output '\(o.name)' is a graph input through a Q / DQ pair") }
      rename[x] = o.name
    }
    func final(_ s: String) -> String { rename[s] ?? s }
    for k in kept.indices {
      kept[k].input = kept[k].input.map { $0.isEmpty ? $0 : final($0) }
      kept[k].output = kept[k].output.map(final)
    }
    activations = Dictionary(uniqueKeysWithValues: activations.map { (final($0.key), $0.value) })
    graph.node = kept
    let read = Set(kept.flatMap(\.input))
    graph.initializer = g.initializer.filter { read.contains($0.name) && floatInitializers[$0.name] == nil }
      + floatInitializers.keys.sorted().filter(read.contains).map { floatInitializers[$0]! }
    let initializerNames = Set(graph.initializer.map(\.name))
    graph.input = g.input.filter { !initializers.keys.contains($0.name) || initializerNames.contains($0.name) }
    let values = read.union(kept.flatMap(\.output)).union(g.input.map(\.name))
    graph.valueInfo = g.valueInfo.filter { values.contains($0.name) }
    var model = file.proto
    model.graph = graph
    let float = try ONNXFile(bytes: try model.serializedData(), path: file.path, directory: file.directory)
    var result = QDQModel(float: float, activations: activations, parameters: parameters.filter { read.contains($0.key) })
    result.valueOrder = g.input.map(\.name) + kept.flatMap(\.output)
    for p in kept {
      let n = QDQModel.Node(name: p.name, opType: p.opType, inputs: p.input, outputs: p.output)
      for o in n.outputs where !o.isEmpty { result.producer[o] = n }
      for i in n.inputs where !i.isEmpty { result.readers[i, default: []].append(n) }
    }
    return result
  }

  func resolve(_ s: String) -> String { alias[s] ?? s }

  func fail(_ node: String, _ message: String) -> ONNXError { ONNXError("\(file.path): node '\(node)': \(message)") }

  mutating func dequantize(_ n: Onnx_NodeProto, _ name: String) throws {
    let source = n.input[0]
    if let p = pending[source] {
      let (x, qf) = p
      let f = try format(n, name, codesType: nil)
      guard f.sameGrid(qf) else {
        throw fail(name, "dequantizes '\(source)' with \(f), but QuantizeLinear '\(qf.node)' quantized it with \(qf); a requantizing pair has no single format")
      }
      if let t = initializers[x] {
        // a float constant quantized in the graph: it is a parameter at that format
        let values = try ConstantTensor(t, file: file, cache: &cache).floats
        guard values.allSatisfy(\.isFinite) else { throw fail(name, "initializer '\(x)' holds NaN or infinity") }
        let codes = try Self.channelwise(values, shape: t.dims.map(Int.init), f, name: name, file: file) { v, s, z in
          Float(min(max(Int((v / s).rounded(.toNearestOrEven)) + z, qf.qmin), qf.qmax) - z) * s
        }
        try record(parameter: x, f, from: name)
        floatInitializers[x] = ONNXNodeWriter.floatTensor(x, codes, shape: t.dims.map(Int.init))
      } else {
        if let old = activations[x], !old.sameGrid(f) {
          throw fail(name, "tensor '\(x)' is quantized twice, with \(old) ('\(old.node)') and \(f)")
        }
        activations[x] = f
      }
      alias[n.output[0]] = x
      return
    }
    guard let t = initializers[source] else {
      throw fail(name, "DequantizeLinear reads '\(source)', which is neither an integer initializer nor a QuantizeLinear output (quantized graph inputs are not supported)")
    }
    let f = try format(n, name, codesType: Int(t.dataType))
    let codes = try ConstantTensor(t, file: file, cache: &cache).ints("codes of \(name)")
    for c in codes where c < Int64(f.qmin) || c > Int64(f.qmax) { throw fail(name, "code \(c) outside \(f.qmin)...\(f.qmax)") }
    // in double: int32 bias codes beyond 2^24 would round in float before the scale
    let values = try Self.channelwise(codes, shape: t.dims.map(Int.init), f, name: name, file: file) { q, s, z in
      Float(Double(q - Int64(z)) * Double(s))
    }
    // the float weight takes the codes' name without ONNX Runtime's "_quantized" suffix when free
    var floatName = source
    if source.hasSuffix("_quantized") {
      let base = String(source.dropLast("_quantized".count))
      if initializers[base] == nil && !file.graph.node.contains(where: { $0.output.contains(base) }) { floatName = base }
    }
    if let old = floatInitializers[floatName], old != ONNXNodeWriter.floatTensor(floatName, values, shape: t.dims.map(Int.init)) {
      throw fail(name, "initializer '\(source)' is dequantized twice with different scales")
    }
    try record(parameter: floatName, f, from: name)
    floatInitializers[floatName] = ONNXNodeWriter.floatTensor(floatName, values, shape: t.dims.map(Int.init))
    alias[n.output[0]] = floatName
  }

  mutating func record(parameter: String, _ f: QDQFormat, from node: String) throws {
    if let old = parameters[parameter], !old.sameGrid(f) { throw fail(node, "initializer '\(parameter)' is quantized twice, with \(old) and \(f)") }
    parameters[parameter] = f
  }

  /// Applies `op(value, scale, zero point)` with the scale of each element's channel.
  static func channelwise<T>(_ v: [T], shape: [Int], _ f: QDQFormat, name: String, file: ONNXFile,
                             _ op: (T, Float, Int) -> Float) throws -> [Float] {
    guard let axis = f.axis else { return v.map { op($0, f.scales[0], f.zeroPoints[0]) } }
    guard axis < shape.count, shape[axis] == f.scales.count else {
      throw ONNXError("\(file.path): node '\(name)': \(f.scales.count) scales along axis \(axis) of a tensor of shape \(shape)")
    }
    let inner = shape[(axis + 1)...].reduce(1, *), channels = shape[axis]
    return v.indices.map { i in
      let c = (i / inner) % channels
      return op(v[i], f.scales[c], f.zeroPoints[c])
    }
  }

  /// The format of a Q or DQ node: its scale and zero point initializers, its axis, the integer
  /// type (the zero point's, else the codes', else uint8 as ONNX defines).
  mutating func format(_ n: Onnx_NodeProto, _ name: String, codesType: Int?) throws -> QDQFormat {
    func constant(_ input: String, _ what: String) throws -> (Onnx_TensorProto, ConstantTensor) {
      guard let t = initializers[input] else { throw fail(name, "its \(what) '\(input)' is not an initializer (computed scales are not supported)") }
      return (t, try ConstantTensor(t, file: file, cache: &cache))
    }
    for a in n.attribute where a.name == "block_size" && a.i != 0 { throw fail(name, "blocked quantization (block_size \(a.i)) is not supported") }
    let (_, scale) = try constant(n.input[1], "scale")
    guard scale.isFloat, scale.shape.count <= 1, scale.count >= 1 else { throw fail(name, "scale must be a float scalar or 1-D tensor, found shape \(scale.shape)") }
    let scales = scale.floats
    guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw fail(name, "scale \(scales.prefix(4)) must be positive and finite") }
    var type = codesType ?? Int(Onnx_TensorProto.DataType.uint8.rawValue)
    var zeros = [Int](repeating: 0, count: scales.count)
    if n.input.count >= 3, !n.input[2].isEmpty {
      let (t, z) = try constant(n.input[2], "zero point")
      guard z.count == scales.count else { throw fail(name, "\(z.count) zero points for \(scales.count) scales") }
      type = Int(t.dataType)
      zeros = try z.intValues("zero point of \(name)")
    }
    let (bits, signed): (Int, Bool)
    switch Onnx_TensorProto.DataType(rawValue: type) {
    case .int8?: (bits, signed) = (8, true)
    case .uint8?: (bits, signed) = (8, false)
    case .int16?: (bits, signed) = (16, true)
    case .uint16?: (bits, signed) = (16, false)
    case .int32? where isQDQ(n, "DequantizeLinear") && codesType != nil: (bits, signed) = (32, true)
    default: throw fail(name, "quantized type \(type) is not supported (int8, uint8, int16, uint16; int32 for dequantized biases)")
    }
    var f = QDQFormat(bits: bits, signed: signed, scales: scales, zeroPoints: zeros, axis: nil, node: name)
    for z in zeros where z < f.qmin || z > f.qmax { throw fail(name, "zero point \(z) outside the type's range") }
    if scales.count > 1 {
      var axis = n.attribute.first { $0.name == "axis" }.map { Int($0.i) } ?? 1
      if axis < 0, let codes = codesType.flatMap({ _ in initializers[n.input[0]] }) { axis += codes.dims.count }
      guard axis >= 0 else { throw fail(name, "per-channel axis \(axis) of a tensor of unknown rank") }
      f.axis = axis
    }
    return f
  }
}
