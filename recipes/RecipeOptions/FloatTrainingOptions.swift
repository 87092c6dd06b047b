import ArgumentParser
import Training

/// The command-line options of the float-training recipes (cifar10-train, cifar10-mobilenet).
public struct FloatTrainingOptions: ParsableArguments {
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") public var dataRoot: String?
  @Option public var seed: UInt64 = 0
  @Option public var epochs = 5
  @Option public var batchSize = 128
  @Option public var learningRate: Float = 0.1
  @Option public var momentum: Float = 0.9
  @Option public var weightDecay: Float = 1e-4
  @Option public var threads = 2
  @Option(help: "Checkpoint after every epoch (and resume from it if it exists).") public var checkpoint: String?
  @Option(help: "Write the final weights here (.h5).") public var output: String?
  @Option(help: "Write the final model as ONNX here (opset 17) as well.") public var onnx: String?

  public init() {}

  public func validate() throws {
    guard epochs >= 1, batchSize >= 1, threads >= 1 else { throw ValidationError("--epochs, --batch-size and --threads must be at least 1") }
    guard learningRate > 0, momentum >= 0, weightDecay >= 0 else { throw ValidationError("--learning-rate must be positive, --momentum and --weight-decay non-negative") }
  }

  public func recipe(_ name: String, _ architecture: Architecture) -> FloatTrainingRecipe {
    var r = FloatTrainingRecipe(recipe: name, architecture: architecture, dataRoot: RecipeSupport.dataRoot(dataRoot))
    (r.seed, r.epochs, r.batchSize, r.learningRate) = (seed, epochs, batchSize, learningRate)
    (r.momentum, r.weightDecay, r.threads, r.checkpoint, r.output, r.onnx) = (momentum, weightDecay, threads, checkpoint, output, onnx)
    return r
  }
}
