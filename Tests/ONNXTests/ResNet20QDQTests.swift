import DeployFormat
import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// The pretrained ResNet-20 at W8A8 (power of two, our PTQ) exported as QDQ and run in ONNX
/// Runtime's CPU provider on 1,000 test images, against our integer simulator (which equals the
/// fake-quant model at every tensor): with half-to-even activation rounding (QuantizeLinear's
/// rule) the logits agree to 0 LSB on every image; with the DPU's half-up rounding written out
/// (--qdq-rounding exact) too. (Half-up under QuantizeLinear's own rounding is a different model:
/// power-of-two requantization meets exact ties often; BENCHMARKS.md gives the measured figures.)
@Suite struct ResNet20QDQTests {
  @Test(.enabled(if: TestData.hasCIFAR && TestData.hasModels, TestData.skipCIFAR),
        .enabled(if: ONNXWriterRuntimeTests.python != nil, ONNXWriterRuntimeTests.skip))
  func onnxRuntimeRunsTheQDQExportOf1000TestImages() throws {
    let test = try CIFARData.evaluationLoader(directory: TestData.path("data/cifar10/test"), limit: 1000, batchSize: 1000)
    var batches = test.batches(epoch: 0)
    let images = try batches.next()!.images
    #expect(images.shape[0] == 1000)
    for (rounding, mode) in [(RoundingRule.halfToEven, QDQWriter.Rounding.native), (.halfUp, .exact)] {
      var config = QuantizationConfig()
      config.activationRounding = rounding
      try agree(config, mode, images, "ResNet-20 W8A8 \(rounding.rawValue) \(mode.rawValue)")
    }
  }

  /// Per-channel int8 weights requantized by 32-bit multipliers (the DPU's half-up rounding), in
  /// the exact QDQ form: ONNX Runtime computes the integer arithmetic in float / double ops and
  /// agrees with the simulator to 0 LSB. (Standard QDQ, where ONNX Runtime requantizes in its own
  /// float arithmetic, differs at near-ties: BENCHMARKS.md.)
  @Test(.enabled(if: TestData.hasCIFAR && TestData.hasModels, TestData.skipCIFAR),
        .enabled(if: ONNXWriterRuntimeTests.python != nil, ONNXWriterRuntimeTests.skip))
  func onnxRuntimeRunsThePerChannelMultiplierModelExactly() throws {
    let test = try CIFARData.evaluationLoader(directory: TestData.path("data/cifar10/test"), limit: 1000, batchSize: 1000)
    var batches = test.batches(epoch: 0)
    let images = try batches.next()!.images
    try agree(RequantizeTests.perChannelConfig(.int32), .exact, images, "ResNet-20 W8A8 per-channel int32 half_up exact")
  }

  /// Quantizes the pretrained ResNet-20 with `config` (calibrated on 64 images), exports it, writes
  /// the QDQ form and expects ONNX Runtime's logits to equal the simulator's on every image.
  func agree(_ config: QuantizationConfig, _ mode: QDQWriter.Rounding, _ images: Tensor, _ label: String) throws {
    let float = try Architecture.loadFloatModel(weights: TestData.path("models/resnet20.h5"), architecture: "resnet20")
    let qm = try Prepare.quantize(float, config: config)
    var it = try CalibrationData(listFile: TestData.path("data/cifar10_calibration_512.txt")).loader(preprocessing: .cifarResNet20).batches(epoch: 0)
    let calibration = try it.next()!.images
    try Calibration.calibrate(qm) { body in try body(calibration) }
    let dir = TestData.temporaryDirectory("resnet20-qdq")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    var options = QDQWriter.Options()
    options.rounding = mode
    try QDQWriter.write(sim.graph, try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile), to: dir + "/model.onnx", options: options)
    guard let theirs = try ONNXWriterRuntimeTests.run(dir + "/model.onnx", images, label)?.first else { return }
    let output = sim.graph.outputs[0]
    let ours = try sim.run([images])[output]!
    let scale = Double(sign: .plus, exponent: sim.graph.tensors[output]!.fractionalBits, significand: 1)
    let codes = theirs.values.map { Int((Double($0) * scale).rounded()) }
    let classes = ours.shape[1], count = images.shape[0]
    var sameTop1 = 0, worst = 0, differing = 0
    for i in 0..<count {
      let a = Array(ours.codes[(i * classes)..<((i + 1) * classes)]).map(Int.init), b = Array(codes[(i * classes)..<((i + 1) * classes)])
      if a.firstIndex(of: a.max()!) == b.firstIndex(of: b.max()!) { sameTop1 += 1 }
      let d = zip(a, b).map { abs($0 - $1) }.max()!
      worst = max(worst, d)
      if d > 0 { differing += 1 }
    }
    print("\(label): top-1 identical on \(sameTop1) / \(count) images, logits differ on \(differing) images, by up to \(worst) LSB")
    #expect(sameTop1 == count && worst == 0, "\(label): top-1 identical on \(sameTop1) / \(count) images, logits differ on \(differing), by up to \(worst) LSB")
  }
}
