import ArgumentParser
import Autograd
import Layers
import QAT
import TensorCore
import Training

struct QATStepBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "qat-step",
    abstract: "Median ms per QAT training step of a built-in network (ResNet-20 by default; W8A8 power of two, Conv+BN folded-weight training) and the float step in the same run.")

  @OptionGroup var options: BenchOptions
  @Option(help: "Built-in architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))).") var arch = "resnet20"
  @Option(help: "Batch size.") var batch = 128
  @Option(help: "Timed steps.") var steps = 20
  @Option(help: "Range learning: none or tqt.") var rangeLearning = "tqt"

  func run() throws {
    options.apply()
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.normal([batch, 3, 32, 32], using: &rng)
    let labels = (0..<batch).map { $0 % 10 }

    let architecture = try Architecture.named(arch)
    let float = try architecture.make(seed: 0)
    float.setPhase(.training)
    let fopt = SGD(float.parameters, learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4)

    let session = try QATSession(model: try architecture.make(seed: 0), config: QuantizationConfig())
    try session.calibrate([x])
    if rangeLearning == "tqt" { try session.enableRangeLearning(.tqt) }
    let qopt = SGD(session.parameterGroups(weightDecay: 1e-4, rangeLearningRateScale: 1), learningRate: 0.01, momentum: 0.9)
    let trainer = session.trainer(optimizer: qopt, schedule: ConstantSchedule(0.01))
    session.model.setPhase(.training)
    var k = 0
    // measured alternately, so machine noise and drift hit both alike
    let (qatStep, floatStep) = try pairedMedianSeconds(repeats: steps, {
      let (_, g) = valueWithGradients { session.model(x).softmaxCrossEntropy(labels: labels) }
      qopt.update(g)
      k += 1
      try trainer.afterStep?(k)
    }, {
      let (_, g) = valueWithGradients { float(x).softmaxCrossEntropy(labels: labels) }
      fopt.update(g)
    })
    emit([("name", "qat-step"), ("arch", arch), ("ms", qatStep * 1e3), ("float_ms", floatStep * 1e3), ("ratio", qatStep / floatStep),
          ("batch", batch), ("threads", options.threads), ("scheme", "W8A8 power of two, range learning \(rangeLearning)"),
          ("pytorch_qat_reference_ms", 597.0), ("ratio_to_pytorch", qatStep * 1e3 / 597.0)])
  }
}
