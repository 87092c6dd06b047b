import ArgumentParser
import Autograd
import Export
import Foundation
import Layers
import QAT
import Simulator
import TensorCore
import Training

struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "End-to-end run on generated data (no download): train a small CNN, quantize it to 8-bit fixed point, export it and check the integer simulator against the fake-quant model at every tensor.")

  @Option var seed: UInt64 = 0
  @Option var epochs = 4
  @Option(help: "Keep the deploy directory here (default: a temporary directory, removed afterwards).") var outputDir: String?
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    print("swift-qat demo (seed \(seed)): 4-class synthetic patterns, 16x16 grayscale")
    let (trainX, trainY) = SyntheticShapes.make(count: 2048, seed: seed)
    let (testX, testY) = SyntheticShapes.make(count: 512, seed: seed + 1)
    let model = SyntheticShapes.model(seed: seed)
    print(model.summary())
    let optimizer = SGD(model.parameters, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4)
    let batch = 64, steps = trainY.count / batch
    for epoch in 1...epochs {
      model.setPhase(.training)
      var lossSum: Float = 0
      for s in 0..<steps {
        let x = Kernels.slice(trainX, [SliceRange(s * batch, (s + 1) * batch)])
        let y = Array(trainY[(s * batch)..<((s + 1) * batch)])
        let (loss, g) = valueWithGradients { model(x).softmaxCrossEntropy(labels: y) }
        optimizer.update(g)
        lossSum += loss.scalar
      }
      model.setPhase(.inference)
      print(String(format: "epoch %d: mean training loss %.4f, float test accuracy %.2f %%", epoch, lossSum / Float(steps),
                   Self.accuracy(model.withoutGradients { model(testX) }, testY)))
    }
    let floatAccuracy = Self.accuracy(model.withoutGradients { model(testX) }, testY)

    // Post-training quantization: power-of-two positions, 8-bit weights and activations (DPU).
    let qm = try Prepare.quantize(model, config: QuantizationConfig())
    let calibration = Kernels.slice(trainX, [SliceRange(0, 256)])
    let report = try Calibration.calibrate(qm) { body in try body(calibration) }
    try ShiftConstraints.enforce(qm)
    let fakeQuant = Self.accuracy(qm.model.withoutGradients { qm.model(testX) }, testY)
    print(String(format: "quantized %d tensors on %d calibration images: fake-quant accuracy %.2f %% (float %.2f %%)",
                 qm.quantizers.count, report.images, fakeQuant, floatAccuracy))

    let dir = outputDir ?? NSTemporaryDirectory() + "qat-demo-\(ProcessInfo.processInfo.processIdentifier)"
    defer { if outputDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
    let exported = try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    let check = try BitExactCheck.compare(qm, sim, batch: testX)
    let simulated = Self.accuracy(try sim(testX), testY)
    print("exported \(exported.nodes) nodes to \(dir)\(outputDir == nil ? " (temporary)" : "")")
    print(String(format: "integer simulator accuracy %.2f %%; %d tensors compared, %d mismatched, max %d LSB",
                 simulated, check.tensorsCompared, check.mismatchedTensors.count, check.maxLSBDifference))
    if !check.mismatchedTensors.isEmpty { throw ExitCode(1) }
  }

  static func accuracy(_ logits: Tensor, _ labels: [Int]) -> Double {
    100 * Double(zip(logits.argmax(axis: 1), labels).filter { $0 == $1 }.count) / Double(labels.count)
  }
}
