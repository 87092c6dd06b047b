import ArgumentParser
import Autograd
import Datasets
import Foundation
import Layers
import TensorCore
import Training

struct TrainStepBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train-step",
    abstract: "Median ms per training step of a built-in network (ResNet-20 by default; forward + backward + SGD update, data in memory).")

  @OptionGroup var options: BenchOptions
  @Option(help: "Built-in architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))).") var arch = "resnet20"
  @Option(help: "Batch size.") var batch = 128
  @Option(help: "Timed steps.") var steps = 20
  @Flag(help: "Also time forward, backward and update separately.") var breakdown = false
  @Option(help: "Training JPEG folder for the data-pipeline figure (default: $QAT_DATA or ../shared, + data/cifar10/train).")
  var data: String?
  @Option(help: "Batches decoded for the data-pipeline figure.") var pipelineBatches = 100

  func run() throws {
    options.apply()
    let model = try Architecture.named(arch).make(seed: 0)
    model.setPhase(.training)
    let opt = SGD(model.parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.normal([batch, 3, 32, 32], using: &rng)
    let labels = (0..<batch).map { $0 % 10 }
    let seconds = medianSeconds(repeats: steps, warmup: 3) {
      let (_, g) = valueWithGradients { model(x).softmaxCrossEntropy(labels: labels) }
      opt.update(g)
    }
    if breakdown {
      let fwd = medianSeconds(repeats: steps) { _ = model(x).softmaxCrossEntropy(labels: labels) }
      var loss = model(x).softmaxCrossEntropy(labels: labels)
      let bwd = medianSeconds(repeats: 1, warmup: 0) { _ = gradients(of: loss) }
      loss = model(x).softmaxCrossEntropy(labels: labels)
      let g = gradients(of: loss)
      let upd = medianSeconds(repeats: steps) { opt.update(g) }
      model.setPhase(.inference)
      let inf = medianSeconds(repeats: steps) { _ = model(x) }
      model.setPhase(.training)
      emit([("name", "train-step-breakdown"), ("forward_ms", fwd * 1e3), ("backward_ms", bwd * 1e3),
            ("update_ms", upd * 1e3), ("inference_forward_ms", inf * 1e3)])
    }
    var fields: [(String, Any)] = [("name", "train-step"), ("arch", arch), ("ms", seconds * 1e3), ("batch", batch), ("threads", options.threads)]
    if arch == "resnet20" {
      fields += [("reference_ms", 357.0), ("ratio", 357.0 / (seconds * 1e3)),
                 ("reference", "PyTorch 2.13 CPU float step, 2 threads, median (PLATFORM.md)")]
    } else {
      fields += [("reference", "run benchmarks/pytorch_reference.py --arch \(arch) in the same session")]
    }
    emit(fields)
    try dataPipeline(consumedPerSecond: Double(batch) / seconds)
  }

  /// Decode + augment + preprocess throughput of the training loader (2 worker threads).
  func dataPipeline(consumedPerSecond: Double) throws {
    let root = data ?? (ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared") + "/data/cifar10/train"
    guard FileManager.default.fileExists(atPath: root) else {
      emit([("name", "data-pipeline"), ("skipped", "no training images at \(root)")])
      return
    }
    let loader = try CIFARData.trainingLoader(directory: root, batchSize: batch, seed: 0, workers: 2)
    var batches = loader.batches(epoch: 0)
    _ = try batches.next()  // threads started, first batch ready
    let t0 = now()
    var images = 0
    for _ in 0..<pipelineBatches {
      guard let b = try batches.next() else { break }
      images += b.labels.count
    }
    let rate = Double(images) / (now() - t0)
    emit([("name", "data-pipeline"), ("images_per_s", rate), ("trainer_images_per_s", consumedPerSecond),
          ("ratio", rate / consumedPerSecond), ("workers", 2), ("augment", "crop+flip")])
  }
}
