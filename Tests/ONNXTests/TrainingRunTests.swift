import Datasets
import Export
import Simulator
import Foundation
import Layers
import QAT
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// `qat train` / `qat finetune`'s engine on an imported model and an image folder: it trains in
/// float and as QAT, and a run stopped after an epoch and resumed from its checkpoint ends with
/// exactly the weights (and quantization state) of the run that never stopped.
@Suite struct TrainingRunTests {
  /// 5 classes × 6 images of 8×8 pixels, each class a brightness pattern.
  static func imageFolder() throws -> String {
    let dir = TestData.temporaryDirectory("train-folder")
    for c in 0..<5 {
      try FileManager.default.createDirectory(atPath: dir + "/class\(c)", withIntermediateDirectories: true)
      for i in 0..<6 {
        var image = Image(width: 8, height: 8, channels: 3)
        for k in image.pixels.indices { image.pixels[k] = UInt8((c * 50 + (k % 3) * 20 + (k * 7 + i * 13) % 31) % 256) }
        try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: dir + "/class\(c)/\(i).png"))
      }
    }
    return dir
  }

  static func run(_ folder: String, quantize: Bool, epochs: Int, checkpoint: String?, resume: Bool) throws -> TrainingRun.Result {
    let file = try ImportedPipelineTests.mobileBlock()
    let loaded = LoadedModel(model: try ONNXImporter.load(file).model, quantized: nil, source: .onnx(file, inputDims: [:]), preprocessing: nil)
    let preprocessing = Preprocessing(dims: [3, 8, 8])  // u / 255
    let loader = try CIFARData.trainingLoader(directory: folder, batchSize: 8, seed: 3,
                                              augmentation: Augmentation(randomCrop: 8, padding: 2, horizontalFlip: true),
                                              workers: 1, preprocessing: preprocessing)
    var run = TrainingRun(model: loaded, train: loader)
    run.options.epochs = 3
    run.options.learningRate = 0.05
    run.options.progress = nil
    run.options.checkpoint = checkpoint
    run.options.resume = resume
    run.options.freezeBNAt = quantize ? 0.5 : nil
    if quantize {
      run.quantization = QuantizationConfig()
      var it = try CalibrationData(directory: folder).loader(preprocessing: preprocessing, batchSize: 10).batches(epoch: 0)
      while let b = try it.next() { run.calibration.append(b.images) }
    }
    if epochs < 3 { run.options.stopAfterEpoch = epochs }  // what an interruption after that epoch leaves
    return try run.run()
  }

  @Test(arguments: [false, true]) func resumeIsBitwise(quantize: Bool) throws {
    let folder = try Self.imageFolder()
    let straight = try Self.run(folder, quantize: quantize, epochs: 3, checkpoint: nil, resume: false)
    #expect(straight.epochs.count == 3 && straight.epochs.last!.train.meanLoss < straight.epochs.first!.train.meanLoss)
    let path = TestData.temporaryDirectory("train-resume-\(quantize)") + "/ckpt.h5"
    _ = try Self.run(folder, quantize: quantize, epochs: 1, checkpoint: path, resume: false)
    let resumed = try Self.run(folder, quantize: quantize, epochs: 3, checkpoint: path, resume: true)
    #expect(resumed.resumedAtEpoch == 1 && resumed.epochs.map(\.epoch) == [2, 3])
    for ((name, p), (_, q)) in zip(straight.model.namedParameters, resumed.model.namedParameters) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    for ((name, p), (_, q)) in zip(straight.model.namedBuffers, resumed.model.namedBuffers) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    if quantize {
      #expect(try QuantizationState(straight.quantized!, architecture: nil) == QuantizationState(resumed.quantized!, architecture: nil))
    }
  }

  /// The README's Swift example, call for call: wrap, train as usual, export; the deploy graph
  /// then runs bit-exactly.
  @Test func readmeSwiftExample() throws {
    let folder = try Self.imageFolder()
    let float = try ONNXImporter.load(try ImportedPipelineTests.mobileBlock()).model
    let preprocessing = Preprocessing(dims: [3, 8, 8])
    let loader = try CIFARData.trainingLoader(directory: folder, batchSize: 8, seed: 1, augmentation: nil, workers: 1, preprocessing: preprocessing)
    var calibrationBatches: [Tensor] = []
    var it = loader.batches(epoch: 0)
    while let b = try it.next() { calibrationBatches.append(b.images) }
    let epochs = 2

    let session = try QATSession(model: float, config: QuantizationConfig())
    try session.calibrate(calibrationBatches)
    let trainer = session.trainer(optimizer: SGD(session.model.parameters, learningRate: 0.002, momentum: 0.9),
                                  schedule: CosineSchedule(base: 0.002, totalSteps: epochs * loader.batchCount))
    for epoch in 0..<epochs { try trainer.trainEpoch(loader, epoch: epoch) }
    session.finish()
    let deploy = TestData.temporaryDirectory("readme-deploy")
    try Exporter.export(session.quantized, to: deploy)

    #expect(trainer.step == epochs * loader.batchCount)
    let report = try BitExactCheck.compare(session.quantized, try Simulator(directory: deploy), batch: calibrationBatches[0])
    #expect(report.tensorsCompared > 0 && report.mismatchedTensors.isEmpty)
  }

  /// QAT of a graph the deploy format cannot express stops before training, naming the nodes.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip)) func qatRefusesUnexportableGraphsUpFront() throws {
    let folder = try Self.imageFolder()
    let file = try ONNXFile(path: Fixtures.directory + "/heads.onnx")
    let loaded = LoadedModel(model: try ONNXImporter.load(file).model, quantized: nil, source: .onnx(file, inputDims: [:]), preprocessing: nil)
    let preprocessing = Preprocessing(dims: [3, 16, 16])
    var run = TrainingRun(model: loaded, train: try CIFARData.trainingLoader(directory: folder, batchSize: 8, seed: 0, augmentation: nil,
                                                                             workers: 1, preprocessing: preprocessing))
    run.quantization = QuantizationConfig()
    var it = try CalibrationData(directory: folder).loader(preprocessing: preprocessing, batchSize: 10).batches(epoch: 0)
    while let b = try it.next() { run.calibration.append(b.images) }
    run.options.progress = nil
    do {
      _ = try run.run()
      Issue.record("QAT of a graph with a softmax started")
    } catch let e as TrainingError {
      #expect("\(e)".contains("Softmax_21") && "\(e)".contains("Sub_16"), "\(e)")
    }
  }
}
