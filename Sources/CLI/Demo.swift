import ArgumentParser
import Autograd
import Foundation
import Layers
import TensorCore
import Training

struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "End-to-end run on generated data (no download): train a small CNN and report its accuracy.")

  @Option var seed: UInt64 = 0
  @Option var epochs = 4
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
      let accuracy = Self.accuracy(model(testX), testY)
      print(String(format: "epoch %d: mean training loss %.4f, test accuracy %.2f %%", epoch, lossSum / Float(steps), accuracy))
    }
  }

  static func accuracy(_ logits: Tensor, _ labels: [Int]) -> Double {
    100 * Double(zip(logits.argmax(axis: 1), labels).filter { $0 == $1 }.count) / Double(labels.count)
  }
}
