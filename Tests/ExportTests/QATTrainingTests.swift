import Autograd
import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct QATTrainingTests {
  func session(seed: UInt64 = 1, bits: Int = 4, learning: QuantSpec.Learning = .tqt) throws -> QATSession {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit) = (bits, bits)
    let s = try QATSession(model: exportNet(seed: seed), config: c)
    try s.calibrate(exportBatches(seed: 100))
    if learning != .none { try s.enableRangeLearning(learning) }
    return s
  }

  let labels = (0..<8).map { $0 % 5 }

  func train(_ s: QATSession, _ trainer: Trainer, steps: Range<Int>) {
    s.model.setPhase(.training)
    for k in steps {
      let x = randomTensor([8, 3, 12, 12], seed: 900 + UInt64(k), low: -2, high: 2)
      trainer.optimizer.learningRate = 0.05
      let (_, g) = valueWithGradients { s.model(x).softmaxCrossEntropy(labels: labels) }
      trainer.optimizer.update(g)
      trainer.afterStep?(k + 1)
    }
  }

  func optimizer(_ s: QATSession) -> SGD {
    SGD(s.parameterGroups(weightDecay: 1e-4, rangeLearningRateScale: 1), learningRate: 0.05, momentum: 0.9)
  }

  @Test func trainingMovesWeightsAndRangesAndFoldingChangesNoOutput() throws {
    let s = try session()
    let before = s.rangeParameters.map { $0.value.scalar }
    let trainer = s.trainer(optimizer: optimizer(s), schedule: ConstantSchedule(0.05))
    s.freezeBatchNormStep = 3
    train(s, trainer, steps: 0..<5)
    #expect(s.rangeParameters.map { $0.value.scalar } != before)
    #expect(s.model.nodes.contains { ($0.layer as? QuantizedConvBatchNorm)?.freezeStatistics == true })
    s.finish()
    s.model.setPhase(.inference)
    let x = randomTensor([4, 3, 12, 12], seed: 77, low: -2, high: 2)
    let unfolded = s.model.withoutGradients { s.model(x) }
    s.quantized.foldBatchNorms()
    #expect(!s.model.nodes.contains { $0.layer is QuantizedConvBatchNorm })
    let folded = s.model.withoutGradients { s.model(x) }
    #expect(folded.scalars == unfolded.scalars)  // 0 LSB: the same fake-quant outputs
    // and the exported integer model agrees with it at every tensor
    let dir = TestData.temporaryDirectory("qat-trained")
    try Exporter.export(s.quantized, to: dir)
    let report = try BitExactCheck.compare(s.quantized, try Simulator(directory: dir), batch: x)
    #expect(report.mismatchedTensors.isEmpty && report.tensorsCompared > 10)
  }

  /// Six steps straight equal three, a checkpoint, a fresh session restored from it, and three more.
  @Test func resumeIsBitwiseIdentical() throws {
    let a = try session(seed: 2)
    let ta = a.trainer(optimizer: optimizer(a), schedule: ConstantSchedule(0.05))
    a.freezeBatchNormStep = 4
    train(a, ta, steps: 0..<6)

    let b = try session(seed: 2)
    let tb = b.trainer(optimizer: optimizer(b), schedule: ConstantSchedule(0.05))
    b.freezeBatchNormStep = 4
    train(b, tb, steps: 0..<3)
    let path = TestData.temporaryDirectory("qat-resume") + "/ckpt.h5"
    try b.saveCheckpoint(tb, to: path, architecture: "test")

    let c = try session(seed: 9)  // different initial weights: everything must come from the file
    let tc = c.trainer(optimizer: optimizer(c), schedule: ConstantSchedule(0.05))
    c.freezeBatchNormStep = 4
    try c.resume(tc, from: path)
    train(c, tc, steps: 3..<6)
    for ((name, p), (_, q)) in zip(a.model.namedParameters, c.model.namedParameters) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    for ((name, p), (_, q)) in zip(a.model.namedBuffers, c.model.namedBuffers) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    #expect(try QuantizationState(a.quantized, architecture: nil) == QuantizationState(c.quantized, architecture: nil))
  }
}
