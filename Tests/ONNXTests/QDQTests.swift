import DeployFormat
import Export
import Foundation
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
@testable import ONNX

/// The QDQ writer: every deploy tensor quantized and dequantized at its power-of-two scale, and
/// ONNX Runtime reproducing the integer simulator tensor by tensor.
@Suite struct QDQTests {
  static func quantized(_ name: String, rounding: RoundingRule, simulateDPU: Bool = true) throws -> (Simulator, DeployGraph, DeployPayload, Tensor) {
    var config = QuantizationConfig()
    config.activationRounding = rounding
    config.simulateDPU = simulateDPU
    let (_, simulator, reference, dir) = try FixturePipelineTests.deploy(name, config, tag: "qdq-\(name)-\(rounding.rawValue)")
    let payload = try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile)
    return (simulator, simulator.graph, payload, FixturePipelineTests.batch(reference, seed: 123))
  }

  /// The structure: one QuantizeLinear / DequantizeLinear pair per deploy tensor with scale
  /// 2^−fractional_bits and zero point 0; weights int8, biases int32 at the accumulator's scale.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func everyTensorIsQuantizedAtItsPowerOfTwoScale() throws {
    let (_, graph, payload, _) = try Self.quantized("mobilenet_v2", rounding: .halfUp)
    let (data, report) = try QDQWriter.bytes(graph, payload)
    let proto = try Onnx_ModelProto(serializedBytes: data)
    let g = proto.graph
    let inits = Dictionary(uniqueKeysWithValues: g.initializer.map { ($0.name, $0) })
    func scalar(_ name: String) -> Float? {
      guard let t = inits[name], t.rawData.count == 4 else { return nil }
      return t.rawData.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
    }
    #expect(report.quantizedTensors == graph.nodes.count)
    for (name, t) in graph.tensors {
      let q = g.node.filter { $0.opType == "QuantizeLinear" && $0.output == ["\(name)/q"] }
      #expect(q.count == 1, "\(name): \(q.count) QuantizeLinear nodes")
      guard let node = q.first else { continue }
      #expect(scalar(node.input[1]) == Float(Double(sign: .plus, exponent: -t.fractionalBits, significand: 1)), "\(name): scale")
      #expect(inits[node.input[2]]?.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue) && inits[node.input[2]]?.int32Data == [0])
      #expect(g.node.contains { $0.opType == "DequantizeLinear" && $0.input.first == "\(name)/q" })
    }
    for n in graph.nodes where n.op == .conv2d || n.op == .linear {
      let w = inits["\(n.name).weight/codes"], b = inits["\(n.name).bias/codes"]
      #expect(w?.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue), "\(n.name): weight type")
      #expect(w?.int32Data == payload[n.weight!]!.values, "\(n.name): weight codes")
      if n.bias != nil {
        let accumulator = graph.tensors[n.inputs[0]]!.fractionalBits + n.weightFractionalBits!
        #expect(b?.dataType == Int32(Onnx_TensorProto.DataType.int32.rawValue))
        #expect(scalar("\(n.name).bias/scale") == Float(Double(sign: .plus, exponent: -accumulator, significand: 1)), "\(n.name): bias scale")
      }
    }
    // graph outputs: the deploy outputs' dequantized values, named after them
    #expect(g.output.map(\.name) == graph.outputs)
  }

  /// ONNX Runtime's / TensorRT's placement: no pair after data movement that keeps the grid.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func operatorInputPlacementSkipsGridKeepingMovement() throws {
    let (_, graph, payload, _) = try Self.quantized("inception", rounding: .halfUp)
    var options = QDQWriter.Options()
    options.placement = .operatorInputs
    let proto = try Onnx_ModelProto(serializedBytes: try QDQWriter.bytes(graph, payload, options: options).0)
    let quantized = Set(proto.graph.node.filter { $0.opType == "QuantizeLinear" }.map { String($0.output[0].dropLast(2)) })
    let movement = graph.nodes.filter { [.maxPool, .concat, .flatten, .reshape].contains($0.op) && !graph.outputs.contains($0.output) }
    #expect(!movement.isEmpty)
    for n in movement where graph.tensors[n.output]!.format == graph.tensors[n.inputs[0]]!.format {
      #expect(!quantized.contains(n.output), "\(n.name) (\(n.op.rawValue)) has its own QuantizeLinear")
    }
    for n in graph.nodes where [.conv2d, .linear, .add].contains(n.op) { #expect(quantized.contains(n.output), "\(n.name)") }
  }

  @Test func sixteenBitActivationsAreRefusedNamingTheTensor() throws {
    var graph = DeployGraph(inputs: ["x"], outputs: ["x"], tensors: ["x": DeployTensor(shape: [4], format: FixedPointFormat(bits: 16, fractionalBits: 8), rounding: .halfUp)],
                            nodes: [DeployNode(name: "x", op: .input, inputs: [], output: "x")])
    graph.producer = "test"
    #expect { try QDQWriter.bytes(graph, DeployPayload()) } throws: { "\($0)".contains("tensor x has 16 bits") }
  }

  /// ONNX Runtime against the simulator at every tensor, for every fixture: 0 LSB when the model
  /// rounds half to even (QuantizeLinear's rule) and when the writer spells out the DPU's half-up
  /// rule. (The DPU's rule under QuantizeLinear's own rounding differs at exact ties, and a
  /// difference there grows through the layers after it: BENCHMARKS.md gives the figures.)
  @Test(.enabled(if: Fixtures.present && ONNXWriterRuntimeTests.python != nil, ONNXWriterRuntimeTests.skip), arguments: Fixtures.names)
  func onnxRuntimeAgreesWithTheSimulator(_ name: String) throws {
    for (rounding, mode, dpu, placement) in [(RoundingRule.halfToEven, QDQWriter.Rounding.native, true, QDQWriter.Placement.everyTensor),
                                             (.halfUp, .exact, true, .everyTensor), (.halfToEven, .native, false, .everyTensor),
                                             (.halfUp, .exact, true, .operatorInputs)] {
      let (simulator, graph, payload, x) = try Self.quantized(name, rounding: rounding, simulateDPU: dpu)
      var options = QDQWriter.Options()
      (options.rounding, options.exposeEveryTensor, options.placement) = (mode, true, placement)
      let dir = TestData.temporaryDirectory("qdq-ort")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try QDQWriter.write(graph, payload, to: dir + "/model.onnx", options: options)
      let label = "\(name) \(rounding.rawValue) \(mode.rawValue) \(placement.rawValue)" + (dpu ? "" : " simulate_dpu 0")
      guard let theirs = try ONNXWriterRuntimeTests.run(dir + "/model.onnx", x, label) else { continue }
      let ours = try simulator.run([x], keepAll: true)
      let names = graph.nodes.map(\.output)
      #expect(theirs.count == names.count)
      var worst = 0, differing = 0
      for (tensor, t) in zip(names, theirs) {
        let codes = ours[tensor]!, scale = Double(sign: .plus, exponent: graph.tensors[tensor]!.fractionalBits, significand: 1)
        #expect(t.shape == codes.shape.dims, "\(label) \(tensor): shape \(t.shape) vs \(codes.shape)")
        guard t.values.count == codes.codes.count else { continue }
        let lsb = zip(t.values, codes.codes).map { abs(Int((Double($0) * scale).rounded()) - Int($1)) }.max() ?? 0
        worst = max(worst, lsb)
        if lsb > 0 { differing += 1 }
      }
      #expect(worst == 0, "\(label): \(differing) of \(names.count) tensors differ, by up to \(worst) LSB")
    }
  }
}
