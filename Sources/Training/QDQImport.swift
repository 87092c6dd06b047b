import Foundation
import Layers
import ONNX
import QAT
import TensorCore

/// Another tool's QDQ model (ONNX Runtime `quantize_static`, Quark, modelopt) as a swift-qat
/// quantized model with the file's own scales, no calibration: the float graph it computes is
/// imported, prepared as any model is, and every quantizer takes the format of the tensor the file
/// quantizes there. Power-of-two scales with zero point 0 (Quark's and vai_q's pof2 / fixed-point
/// formats) are fixed-point formats the deploy graph and the integer simulator run; any
/// other scale or zero point, a quantizer the file has no scale for, and a quantized tensor our
/// integer graph computes without rounding there are errors naming the tensor and its node.
public enum QDQImport {
  /// Whether an ONNX file is a QDQ model.
  public static func isQDQ(_ file: ONNXFile) -> Bool { QDQReader.isQDQ(file) }

  public static func load(_ file: ONNXFile, inputDims: [String: [Int]] = [:]) throws -> LoadedModel {
    let qdq = try QDQReader.split(file)
    var options = ONNXImporter.Options()
    options.inputShapes = inputDims
    let imported = try ONNXImporter.load(qdq.float, options: options)
    let model = imported.model
    if let bn = model.nodes.first(where: { $0.layer is any BatchNormalization }) {
      throw ONNXError("\(file.path): node '\(bn.name)' is a batch norm in a QDQ model; folding it would move the quantized weights off their grid (fold batch norms before quantizing, as ONNX Runtime's quant_pre_process does)")
    }
    let tensorNames = Dictionary(uniqueKeysWithValues: model.nodes.map { ($0.name, $0.tensorNames) })
    let weightAxes = Dictionary(uniqueKeysWithValues: model.nodes.compactMap { n in
      (n.layer as? any WeightBearing).map { (n.name, $0.outputChannelAxis) }
    })
    let qm = try Prepare.quantize(model, config: try config(qdq))
    var values: [String: [String]] = [:]  // model node -> the ONNX values it computes, in file order
    for (value, node) in imported.producers { values[node, default: []].append(value) }
    let order = Dictionary(qdq.valueOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    var used: Set<String> = []
    for q in qm.quantizers {
      let format: QuantFormat
      switch q.role {
      case .weight, .bias:
        let local = q.role == .weight ? "weight" : "bias"
        let node = String(q.label.dropLast(local.count + 1))
        guard let initializer = tensorNames[node]?[local], let f = qdq.parameters[initializer] else {
          throw ONNXError("\(file.path): node '\(node)': its \(local) is float in the file, but the integer model quantizes it (quantize it in the file, or keep the node in float with ignore_nodes)")
        }
        format = try q.role == .weight ? weightFormat(f, tensor: initializer, axis: weightAxes[node] ?? 0, file: file)
                                       : biasFormat(f, tensor: initializer, values: try parameterValues(model, node, local), file: file)
      case .input, .activation:
        let candidates = (values[q.label] ?? []).filter { qdq.activations[$0] != nil }.sorted { order[$0] ?? 0 < order[$1] ?? 0 }
        guard let value = candidates.last else {
          throw ONNXError("\(file.path): node '\(q.label)': the integer model quantizes its output \((values[q.label] ?? []).sorted()), but the file leaves it in float (no QuantizeLinear / DequantizeLinear on it)")
        }
        used.insert(value)
        format = try activationFormat(qdq.activations[value]!, tensor: value, file: file)
      }
      q.spec.rounding = .halfToEven  // QuantizeLinear's rule
      q.setFormat(format)
    }
    try checkUnused(qdq, used: used, file: file)
    try qm.setMode(.quantize)
    return LoadedModel(model: qm.model, quantized: qm, source: .onnx(qdq.float, inputDims: inputDims), preprocessing: nil)
  }

  /// The configuration that prepares the file's graph the way it is quantized: every weight-bearing
  /// layer and activation at the file's widths, nothing aligned or moved for the DPU, rounding
  /// half to even, batch norms folded (a QDQ file normally has none left).
  static func config(_ qdq: QDQModel) throws -> QuantizationConfig {
    var c = QuantizationConfig()
    func mostCommon(_ bits: [Int]) -> Int? { Dictionary(grouping: bits, by: { $0 }).max { ($0.value.count, -$0.key) < ($1.value.count, -$1.key) }?.key }
    c.activationBit = mostCommon(qdq.activations.values.map(\.bits)) ?? 8
    c.weightBit = mostCommon(qdq.parameters.values.filter { $0.bits <= 16 }.map(\.bits)) ?? 8
    c.biasBit = 16
    c.method = .minMax
    c.alignConcat = .off
    c.alignPool = false
    c.simulateDPU = false
    c.adjustShiftCut = .keep
    c.adjustShiftBias = .keep
    (c.weightRounding, c.activationRounding) = (.halfToEven, .halfToEven)
    c.unsignedActivations = qdq.activations.values.contains { !$0.signed }
    return c
  }

  static func activationFormat(_ f: QDQFormat, tensor: String, file: ONNXFile) throws -> QuantFormat {
    guard f.scales.count == 1 else { throw unsupported(f, tensor, file, "per-channel activation scales") }
    guard let fb = f.fractionalBits, f.bits <= 16 else { throw unsupported(f, tensor, file, "a scale other than a power of two with zero point 0") }
    return .fixedPoint(FixedPointFormat(bits: f.bits, signed: f.signed, fractionalBits: fb[0]))
  }

  static func weightFormat(_ f: QDQFormat, tensor: String, axis: Int, file: ONNXFile) throws -> QuantFormat {
    guard let fb = f.fractionalBits, f.bits <= 16 else { throw unsupported(f, tensor, file, "a scale other than a power of two with zero point 0") }
    if fb.count == 1 { return .fixedPoint(FixedPointFormat(bits: f.bits, signed: f.signed, fractionalBits: fb[0])) }
    return .fixedPointPerChannel(bits: f.bits, signed: f.signed, fractionalBits: fb, axis: axis)
  }

  /// A bias at the accumulator's scale is an int32 in the file; the deploy format holds biases of
  /// at most 16 bits: the coarsest position that keeps every value exact, if it fits.
  static func biasFormat(_ f: QDQFormat, tensor: String, values: [Float], file: ONNXFile) throws -> QuantFormat {
    guard let fb = f.fractionalBits else { throw unsupported(f, tensor, file, "a scale other than a power of two with zero point 0") }
    var position = fb.max()!
    func exact(_ p: Int) -> Bool { values.allSatisfy { v in let c = Double(v) * pow(2, Double(p)); return c == c.rounded() } }
    while position > -32, exact(position - 1) { position -= 1 }
    let largest = values.map { abs(Double($0) * pow(2, Double(position))) }.max() ?? 0
    var bits = 2
    while bits < 32, largest > Double((1 << (bits - 1)) - 1) { bits += 1 }
    guard bits <= 16 else {
      throw ONNXError("\(file.path): bias '\(tensor)' (\(f.node)) needs \(bits) bits at 2^\(-position); the deploy format and the integer simulator hold biases of at most 16 bits")
    }
    return .fixedPoint(FixedPointFormat(bits: max(bits, 8), signed: true, fractionalBits: position))
  }

  static func parameterValues(_ model: Model, _ node: String, _ local: String) throws -> [Float] {
    guard let i = model.index(of: node), let w = model.nodes[i].layer as? any WeightQuantized else {
      throw ONNXError("node '\(node)': not a quantized weight-bearing layer")
    }
    return (local == "weight" ? w.weightValue : w.biasValue)?.scalars ?? []
  }

  static func unsupported(_ f: QDQFormat, _ tensor: String, _ file: ONNXFile, _ what: String) -> ONNXError {
    ONNXError("\(file.path): tensor '\(tensor)' (\(f.node)): \(f) is \(what); swift-qat's integer model holds power-of-two scales with zero point 0 (integer-multiplier requantization of other scales is not implemented yet)")
  }

  /// A tensor the file quantizes and our integer graph does not (a conv output before its fused
  /// activation, a max pool or reshape output) is exact only on the grid of a neighbour: the
  /// quantized tensor it is computed from, or the fused activation's output it turns into.
  static func checkUnused(_ qdq: QDQModel, used: Set<String>, file: ONNXFile) throws {
    let passThrough: Set<String> = ["MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Slice", "Split", "Resize", "Upsample", "Pad"]
    let activations: Set<String> = ["Relu", "Clip"]
    for (value, f) in qdq.activations where !used.contains(value) {
      let producer = qdq.producer[value]
      let fromInput = producer.map { p in passThrough.contains(p.opType) && p.inputs.contains { qdq.activations[$0]?.sameGrid(f) == true } } ?? false
      let intoActivation = (qdq.readers[value] ?? []).allSatisfy { r in
        activations.contains(r.opType) && r.outputs.allSatisfy { used.contains($0) && qdq.activations[$0]?.sameGrid(f) == true }
      } && !(qdq.readers[value] ?? []).isEmpty
      guard fromInput || intoActivation else {
        throw ONNXError("\(file.path): tensor '\(value)' (\(f.node)) is quantized (\(f)) where the integer graph rounds nothing: it is computed inside a fused op (\(producer.map { "\($0.opType) '\($0.name)'" } ?? "a graph input")) whose result is quantized differently; exact only when both share one format")
      }
    }
  }
}
