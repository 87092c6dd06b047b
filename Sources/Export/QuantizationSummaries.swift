import DeployFormat
import Foundation
import TensorCore

/// Per-tensor quantization summaries in the shapes other toolchains read, written next to the
/// deploy graph from the same data:
/// - `quant_info.json` (vai_q): bit width and fix position of every parameter and output;
/// - `int8.json` (NVDLA calibrator): symmetric scale, min, max and offset per tensor;
/// - `xfdnn.json` (xfDNN quantizer): per conv / linear layer the bit widths and thresholds of its
///   input, output and parameters (plus the positions);
/// - `calibration.cache` (TensorRT calibration cache, the text the NVDLA compiler's conversion
///   script reads): a header naming the TensorRT version and calibrator, then per tensor
///   `name: <hex of the big-endian float32 scale>` (scale = one LSB, TensorRT's amax / 127).
public enum QuantizationSummaries {
  public static func write(_ g: DeployGraph, payload: DeployPayload, to directory: String) throws {
    try writeJSON(vaiQuantInfo(g), to: directory + "/quant_info.json")
    try writeJSON(nvdla(g), to: directory + "/int8.json")
    try writeJSON(xfdnn(g, payload), to: directory + "/xfdnn.json")
    try writeFileAtomically(directory + "/calibration.cache", Data(tensorRTCache(g).utf8))
  }

  /// TensorRT 8.6's header with its default (entropy 2) calibrator, which reads the cache back.
  public static let tensorRTHeader = "TRT-8601-EntropyCalibration2"

  /// The calibration cache text: 8-bit tensors only (TensorRT's int8), in execution order.
  static func tensorRTCache(_ g: DeployGraph) -> String {
    var lines = [tensorRTHeader]
    for name in g.nodes.map(\.output) {
      guard let t = g.tensors[name], t.bits <= 8 else { continue }
      lines.append("\(name): " + String(format: "%08x", Float(t.format.scale).bitPattern))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static func vaiQuantInfo(_ g: DeployGraph) -> [String: Any] {
    var param: [String: Any] = [:], output: [String: Any] = [:]
    for n in g.nodes {
      if let w = n.weight, let b = n.weightBits, let f = n.weightFractionalBits { param[w] = [[b, f]] }
      if let bias = n.bias, let b = n.biasBits, let f = n.biasFractionalBits { param[bias] = [[b, f]] }
      if let t = g.tensors[n.output] { output[n.output] = [[t.bits, t.fractionalBits]] }
    }
    return ["param": param, "output": output, "input": [String: Any](), "fast_finetuned": false,
            "bias_corrected": false, "producer": "swift-qat", "version": g.schemaVersion]
  }

  static func nvdla(_ g: DeployGraph) -> [String: Any] {
    var out: [String: Any] = [:]
    for (name, t) in g.tensors {
      let scale = t.format.scale
      let maxValue = Double(t.format.qmax) * scale
      out[name] = ["scale": scale, "min": -maxValue, "max": maxValue, "offset": 0, "bits": t.bits, "fractional_bits": t.fractionalBits]
    }
    return out
  }

  static func xfdnn(_ g: DeployGraph, _ payload: DeployPayload) -> [String: Any] {
    var layers: [[String: Any]] = []
    for n in g.nodes where n.op == .conv2d || n.op == .linear {
      guard let tin = g.tensors[n.inputs[0]], let tout = g.tensors[n.output], let w = n.weight.flatMap({ payload[$0] }) else { continue }
      // the scale of channel c's weight codes: a fix position, or a multiplier node's float scales
      let scale: (Int) -> Double
      if let fw = n.weightFractionalBits {
        scale = { _ in Double(sign: .plus, exponent: -fw, significand: 1) }
      } else if let ws = n.weightScales, ws.count == w.shape[0] {
        scale = { Double(ws[$0]) }
      } else { continue }
      let perChannel = w.values.count / max(1, w.shape[0])
      let thresholds = (0..<w.shape[0]).map { c -> Double in
        let m = w.values[(c * perChannel)..<((c + 1) * perChannel)].map { abs(Int($0)) }.max() ?? 0
        return Double(m) * scale(c)
      }
      var layer: [String: Any] = ["name": n.name, "bw_layer_in": tin.bits, "bw_layer_out": tout.bits, "bw_params": n.weightBits ?? 0,
                                  "th_layer_in": Double(tin.format.qmax) * tin.format.scale,
                                  "th_layer_out": Double(tout.format.qmax) * tout.format.scale, "th_params": thresholds,
                                  "pos_layer_in": tin.fractionalBits, "pos_layer_out": tout.fractionalBits]
      if let fw = n.weightFractionalBits { layer["pos_params"] = fw }
      layers.append(layer)
    }
    return ["network": layers, "producer": "swift-qat"]
  }

  static func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try writeFileAtomically(path, data)
  }
}
