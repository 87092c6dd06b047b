import Autograd
import Datasets
import Foundation
import Layers
import QAT
import Testing
import TensorCore
import TestSupport
import Training

/// Fixed random images in memory.
private struct FixedImages: Dataset {
  let samples: [Sample]
  var count: Int { samples.count }
  var classNames: [String] { (0..<5).map(String.init) }
  func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample { samples[index] }
  func source(at index: Int) -> String { "fixed#\(index)" }
}

@Suite struct DistillationTests {
  let images = (0..<32).map { k in
    Sample(tensor: randomTensor([3, 12, 12], seed: 500 + UInt64(k), low: -2, high: 2), label: k % 5)
  }

  /// Mean KL(teacher ‖ student) at T = 1 on all images: the distillation loss minus the teacher's entropy.
  func gap(_ student: Model, _ teacher: Distillation) -> Float {
    let x = Tensor.concat(images.map { $0.tensor.reshaped(to: [1, 3, 12, 12]) }, axis: 0)
    student.setPhase(.inference)
    defer { student.setPhase(.training) }
    let logits = student.withoutGradients { student(x) }
    let target = teacher.teacherLogits(x)
    return logits.distillationLoss(teacherLogits: target, temperature: 1).scalar
      - target.distillationLoss(teacherLogits: target, temperature: 1).scalar
  }

  @Test func distillationPullsTheQuantizedModelTowardItsTeacherAndLeavesTheTeacherAlone() throws {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit) = (3, 3)
    let s = try QATSession(model: exportNet(seed: 1), config: c)
    try s.calibrate(exportBatches(seed: 100))
    let teacherModel = exportNet(seed: 1)
    let teacherBefore = teacherModel.parameters.map(\.value.scalars)
    let teacherPhase = teacherModel.phase
    let distillation = try Distillation(teacher: teacherModel, weight: 1, temperature: 2)
    let loader = DataLoader(dataset: FixedImages(samples: images), batchSize: 8, shuffle: true, seed: 3, workers: 0)
    let optimizer = SGD(s.parameterGroups(weightDecay: 0, rangeLearningRateScale: 1), learningRate: 0.02, momentum: 0.9)
    let trainer = s.trainer(optimizer: optimizer, schedule: ConstantSchedule(0.02))
    trainer.distillation = distillation
    let before = gap(s.model, distillation)
    for epoch in 0..<6 { _ = try trainer.trainEpoch(loader, epoch: epoch) }
    let after = gap(s.model, distillation)
    #expect(after < before * 0.9, "distillation gap \(before) → \(after)")
    #expect(teacherModel.parameters.map(\.value.scalars) == teacherBefore)
    #expect(teacherModel.phase == teacherPhase)
  }

  @Test func invalidSettingsAreRejected() {
    #expect(throws: TrainingError.self) { try Distillation(teacher: exportNet(seed: 1), weight: 1.5) }
    #expect(throws: TrainingError.self) { try Distillation(teacher: exportNet(seed: 1), temperature: 0) }
  }
}
