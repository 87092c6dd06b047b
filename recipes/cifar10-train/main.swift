// Trains a CIFAR network from scratch on the CIFAR-10 JPEG training images (ResNet-20 by
// default): SGD 0.1, momentum 0.9, weight decay 1e-4, cosine schedule, batch 128, random crop +
// flip.
//
//   swift run -c release cifar10-train --epochs 5 [--arch resnet32]
import ArgumentParser
import RecipeOptions
import Training

struct Train: ParsableCommand {
  @OptionGroup var options: FloatTrainingOptions
  @Option(help: "Architecture (resnet20, resnet32, resnet44, resnet56, mobilenetv2).") var arch = "resnet20"
  func run() throws { try options.recipe("cifar10-train", try Architecture.named(arch)).run() }
}

Train.main()
