import Autograd
import DeployFormat
import Export
import Foundation
import HDF5IO
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// An imported model is an ordinary model: it trains, calibrates, quantizes, runs QAT, exports,
/// simulates bit-exactly, and loads back from its directory or checkpoint without an
/// architecture name.
@Suite struct ImportedPipelineTests {
  /// Conv+BN+ReLU6, a depthwise conv, a residual add, global pooling and a Gemm head, built here.
  static func mobileBlock() throws -> ONNXFile {
    var b = ProtoBuilder()
    b.inputShape = [1, 3, 8, 8]
    var rng = RandomGenerator(seed: 11)
    func values(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in rng.nextNormal() * scale } }
    b.initializers = [
      ProtoBuilder.tensor("stem.weight", [8, 3, 3, 3], values(216, 0.3)),
      ProtoBuilder.tensor("bn.weight", [8], (0..<8).map { _ in 0.8 + rng.nextFloat() * 0.4 }),
      ProtoBuilder.tensor("bn.bias", [8], values(8, 0.1)), ProtoBuilder.tensor("bn.running_mean", [8], values(8, 0.1)),
      ProtoBuilder.tensor("bn.running_var", [8], (0..<8).map { _ in 0.5 + rng.nextFloat() }),
      ProtoBuilder.tensor("zero", [], [0]), ProtoBuilder.tensor("six", [], [6]),
      ProtoBuilder.tensor("dw.weight", [8, 1, 3, 3], values(72, 0.3)), ProtoBuilder.tensor("dw.bias", [8], values(8, 0.1)),
      ProtoBuilder.tensor("fc.weight", [5, 8], values(40, 0.3)), ProtoBuilder.tensor("fc.bias", [5], values(5, 0.1)),
    ]
    let pads = ProtoBuilder.attribute("pads", ints: [1, 1, 1, 1])
    b.node("Conv", ["input", "stem.weight"], "stem", attributes: [pads])
    b.node("BatchNormalization", ["stem", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], "bn")
    b.node("Clip", ["bn", "zero", "six"], "relu6")
    b.node("Conv", ["relu6", "dw.weight", "dw.bias"], "dw", attributes: [pads, ProtoBuilder.attribute("group", int: 8)])
    b.node("Relu", ["dw"], "dw_relu")
    b.node("Add", ["dw_relu", "relu6"], "sum")
    b.node("GlobalAveragePool", ["sum"], "pool")
    b.node("Flatten", ["pool"], "flat")
    b.node("Gemm", ["flat", "fc.weight", "fc.bias"], "logits", attributes: [ProtoBuilder.attribute("transB", int: 1)])
    b.outputs = ["logits"]
    return try ONNXFile(bytes: try b.bytes(), path: "mobile.onnx")
  }

  static func batches(_ n: Int = 3) -> [Tensor] { (0..<n).map { randomTensor([8, 3, 8, 8], seed: 40 + UInt64($0), low: -2, high: 2) } }

  @Test func importedModelTrains() throws {
    let model = try ONNXImporter.load(try Self.mobileBlock()).model
    #expect(model.nodes.map(\.layer.kind).contains("ReLU6"))
    // a learnable task: each class shifts its own input channel pattern
    let labels = (0..<16).map { $0 % 5 }
    var v = randomTensor([16, 3, 8, 8], seed: 3, low: -0.5, high: 0.5).scalars
    for i in 0..<16 { for k in 0..<192 { v[i * 192 + k] += Float(labels[i] - 2) * (k < 64 ? 1 : (k < 128 ? -0.5 : 0.25)) } }
    let x = Tensor(v, shape: [16, 3, 8, 8])
    let opt = SGD(model.parameters, learningRate: 0.1, momentum: 0.9)
    model.setPhase(.training)
    var losses: [Float] = []
    for _ in 0..<40 {
      let (loss, g) = valueWithGradients { model(x).softmaxCrossEntropy(labels: labels) }
      opt.update(g)
      losses.append(loss.scalar)
    }
    #expect(losses.last! < losses.first! * 0.5, "\(losses.first!) -> \(losses.last!)")
  }

  /// PTQ at W8A8 and W4A4 (unsigned activations), export, and the simulator at every tensor.
  @Test(arguments: [8, 4]) func importedModelQuantizesAndSimulatesBitExactly(bits: Int) throws {
    var config = QuantizationConfig()
    (config.weightBit, config.activationBit, config.unsignedActivations) = (bits, bits, bits == 4)
    let qm = try Prepare.quantize(try ONNXImporter.load(try Self.mobileBlock()).model, config: config)
    try Calibration.calibrate(qm) { body in for b in Self.batches() { try body(b) } }
    // quantizers sit on the ONNX node names
    #expect(qm.activationQuantizers.map(\.label).contains("relu6") && qm.quantizer(labelled: "dw.weight") != nil)
    let dir = TestData.temporaryDirectory("onnx-deploy")
    try Exporter.export(qm, to: dir)
    let report = try BitExactCheck.compare(qm, try Simulator(directory: dir), batch: Self.batches(1)[0])
    #expect(report.tensorsCompared == 7 && report.mismatchedTensors.isEmpty, "\(report.tensorsCompared) tensors, \(report.firstMismatch ?? "-")")
  }

  /// vai_q's node options address the ONNX node names.
  @Test func nodeOptionsUseTheONNXNames() throws {
    var config = QuantizationConfig()
    config.nodesBit = ["dw": 4, "logits": 16]
    config.ignoreNodes = ["pool"]
    let qm = try Prepare.quantize(try ONNXImporter.load(try Self.mobileBlock()).model, config: config)
    #expect(qm.quantizer(labelled: "dw.weight")?.spec.bits == 4 && qm.quantizer(labelled: "logits.weight")?.spec.bits == 16)
    #expect(qm.quantizer(labelled: "pool") == nil && qm.quantizer(labelled: "sum") != nil)
    var bad = QuantizationConfig()
    bad.nodesBit = ["/no/such/node": 4]
    #expect(throws: QuantizationError.self) { try Prepare.quantize(try ONNXImporter.load(try Self.mobileBlock()).model, config: bad) }
  }

  /// QAT with the folded Conv+BN of an imported graph, then export and the bit-exact check.
  @Test func importedModelRunsQAT() throws {
    let s = try QATSession(model: try ONNXImporter.load(try Self.mobileBlock()).model, config: QuantizationConfig())
    try s.calibrate(Self.batches())
    #expect(s.quantized.weightLayers.contains { $0.layer.batchNorm != nil })
    let opt = SGD(s.model.parameters, learningRate: 0.01, momentum: 0.9)
    let trainer = s.trainer(optimizer: opt, schedule: ConstantSchedule(0.01))
    s.model.setPhase(.training)
    for k in 0..<3 {
      let (_, g) = valueWithGradients { s.model(Self.batches()[k]).softmaxCrossEntropy(labels: (0..<8).map { $0 % 5 }) }
      opt.update(g)
      try trainer.afterStep?(k + 1)
    }
    s.finish()
    s.model.setPhase(.inference)
    let dir = TestData.temporaryDirectory("onnx-qat")
    try Exporter.export(s.quantized, to: dir)
    let report = try BitExactCheck.compare(s.quantized, try Simulator(directory: dir), batch: Self.batches(1)[0])
    #expect(report.mismatchedTensors.isEmpty)
  }

  /// A quantized directory holds the graph: it loads back with no architecture name, bit for bit;
  /// so does a float checkpoint.
  @Test func directoriesAndCheckpointsCarryTheGraph() throws {
    let file = try Self.mobileBlock()
    let source = GraphSource.onnx(file, inputDims: [:])
    let qm = try Prepare.quantize(try ONNXImporter.load(file).model, config: QuantizationConfig())
    try Calibration.calibrate(qm) { body in for b in Self.batches() { try body(b) } }
    let dir = TestData.temporaryDirectory("onnx-qdir")
    try ModelStore.saveQuantized(qm, source: source, preprocessing: nil, to: dir)
    #expect(FileManager.default.fileExists(atPath: dir + "/" + ModelStore.graphFile))
    let loaded = try ModelStore.load(dir)
    let x = Self.batches(1)[0]
    #expect(loaded.quantized!.model(x).scalars == qm.model(x).scalars)

    let float = try ONNXImporter.load(file).model
    float.setPhase(.inference)
    for p in float.parameters { p.value = p.value * 1.5 }  // trained weights differ from the file's
    let path = dir + "/trained.h5"
    try ModelStore.saveFloat(float, source: source, to: path)
    let back = try ModelStore.load(path)
    back.model.setPhase(.inference)
    #expect(back.model(x).scalars == float(x).scalars)
    #expect(Set(back.model.namedParameters.map(\.name)).contains("stem.weight"))
  }

  /// The shared resnet20.onnx quantized at W8A8: the integer simulator equals the fake-quant model
  /// at every tensor on the 64 reference images.
  @Test(.enabled(if: TestData.hasModels, TestData.skipModels))
  func resnet20ONNXQuantizesBitExactly() throws {
    let ref = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let (shape, input) = try ref.read("input", as: Float.self)
    let x = Tensor(input, shape: Shape(shape))
    let qm = try Prepare.quantize(try ONNXImporter.load(path: TestData.path("models/resnet20.onnx")).model, config: QuantizationConfig())
    try Calibration.calibrate(qm) { body in try body(x) }
    let dir = TestData.temporaryDirectory("onnx-r20")
    try Exporter.export(qm, to: dir)
    let report = try BitExactCheck.compare(qm, try Simulator(directory: dir), batch: x)
    #expect(report.tensorsCompared == 38 && report.mismatchedTensors.isEmpty, "\(report.firstMismatch ?? "-")")
  }
}
