import DeployFormat
import Foundation
import TensorCore

/// Writes a deploy graph (the integer model the simulator runs) as a QDQ ONNX model: every
/// tensor of the deploy graph becomes QuantizeLinear → DequantizeLinear at its power-of-two scale
/// (2^−fractional_bits, zero point 0; int8, or uint8 for unsigned tensors), weights int8 (int32
/// beyond 8 bits) and biases int32 at the accumulator's scale through DequantizeLinear, every op
/// computed in float on the dequantized values — the placement NVDLA / modelopt `target_dla`
/// expect (Q/DQ around every quantized tensor), or ONNX Runtime's / TensorRT's (`Placement`). Each op's float expression is exact for the
/// integer arithmetic of the deploy format (sums as depthwise convolutions of ones times the
/// DPU's pool factor, the DPU's hard sigmoid 2731 / 2^14 and its hard swish with the gate rounded
/// half up, table lookups as a Gather on the codes), so ONNX Runtime reproduces the simulator to
/// 0 LSB wherever the rounding rules agree: QuantizeLinear rounds half to even; tensors the
/// deploy graph rounds otherwise (the DPU's half up) differ at exact ties by one LSB unless
/// `rounding` is `.exact`, which writes the rule out in float ops (Floor) before each Quantize.
public enum QDQWriter {
  public enum Rounding: String, Sendable, CaseIterable {
    /// QuantizeLinear's own half-to-even rounding everywhere (standard QDQ).
    case native
    /// The deploy graph's rule, written out before QuantizeLinear where it is not half to even;
    /// layers that requantize by integer multiplier get their integer arithmetic written out in
    /// float and double ops that compute it exactly (`exactMultiplier`), where standard QDQ leaves
    /// the requantization to the runtime's float scales.
    case exact
  }

  /// Where the Q / DQ pairs go.
  public enum Placement: String, Sendable, CaseIterable {
    /// After every tensor of the deploy graph (NVDLA / modelopt `target_dla`).
    case everyTensor = "every_tensor"
    /// ONNX Runtime's and TensorRT's convention: on the tensors arithmetic ops read and write;
    /// data movement that keeps the grid (max pool, reshape, flatten, transpose, slice, nearest
    /// upsampling, concat and zero padding at the input's position) runs on the dequantized values
    /// without a pair of its own.
    case operatorInputs = "operator_inputs"
  }

  public struct Options: Sendable {
    public var opset = 17
    public var placement = Placement.everyTensor
    public var rounding = Rounding.native
    /// Every tensor's dequantized value as a graph output as well (for tensor-by-tensor checks).
    public var exposeEveryTensor = false
    public init() {}
  }

  /// What was written.
  public struct Report: Sendable {
    public var quantizedTensors = 0
    /// Tensors whose deploy rounding is not half to even (exact ties may differ under `.native`).
    public var otherRounding: [String] = []
  }

  public static func bytes(_ graph: DeployGraph, _ payload: DeployPayload, options: Options = Options()) throws -> (Data, Report) {
    var b = try QDQBuilder(graph, payload, options)
    let proto = try b.build()
    return (try proto.serializedData(), b.report)
  }

  public static func write(_ graph: DeployGraph, _ payload: DeployPayload, to path: String, options: Options = Options()) throws -> Report {
    let (data, report) = try bytes(graph, payload, options: options)
    try writeFileAtomically(path, data)
    return report
  }

  /// The float value name of a deploy tensor in the written graph (graph inputs keep their own
  /// name, so theirs is `<name>/dq`).
  public static func valueName(_ tensor: String, in graph: DeployGraph) -> String {
    graph.inputs.contains(tensor) ? tensor + "/dq" : tensor
  }
}
