import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training

/// The pretrained ResNet-20 on real CIFAR-10 test images: after PTQ calibration on the shared
/// calibration list, the exported integer simulator equals the fake-quant model at every tensor
/// for the first 64 test images (the full 10,000-image figures are in BENCHMARKS.md).
@Suite struct ResNet20BitExactTests {
  static let configurations: [(name: String, weight: Int, activation: Int, fixPosition: Int?)] = [
    ("W8A8", 8, 8, nil), ("W4A4", 4, 4, nil), ("Q8.8", 16, 16, 8),
  ]

  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels),
        arguments: 0..<3)
  func pretrainedResNet20IsBitExactOn64TestImages(configuration: Int) throws {
    let setup = Self.configurations[configuration]
    var config = QuantizationConfig()
    (config.weightBit, config.activationBit, config.fixedFractionalBits) = (setup.weight, setup.activation, setup.fixPosition)
    if setup.weight < 8 { (config.firstLayerBit, config.lastLayerBit) = (8, 8) }
    let float = try Architecture.loadFloatModel(weights: TestData.path("models/resnet20.h5"), architecture: "resnet20")
    let qm = try Prepare.quantize(float, config: config)
    var calibration: [Tensor] = []
    var it = try CalibrationData(listFile: TestData.path("data/cifar10_calibration_512.txt"))
      .loader(preprocessing: .cifarResNet20).batches(epoch: 0)
    while calibration.isEmpty, let b = try it.next() { calibration.append(b.images) }
    try Calibration.calibrate(qm) { body in for b in calibration { try body(b) } }

    let dir = TestData.temporaryDirectory("resnet20-\(setup.name)")
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    let test = try CIFARData.evaluationLoader(directory: TestData.path("data/cifar10/test"), limit: 64, batchSize: 64)
    var batches = test.batches(epoch: 0)
    var report = BitExactReport()
    var images = 0
    while let batch = try batches.next() {
      report.merge(try BitExactCheck.compare(qm, sim, batch: batch.images))
      images += batch.images.shape[0]
    }
    #expect(images == 64)
    #expect(report.tensorsCompared == sim.graph.nodes.count, "\(setup.name): \(report.tensorsCompared) tensors compared")
    #expect(report.mismatchedTensors.isEmpty && report.maxLSBDifference == 0,
            "\(setup.name): first mismatch \(report.firstMismatch ?? "-"), max \(report.maxLSBDifference) LSB")
  }
}
