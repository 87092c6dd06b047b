// Trains the MobileNet-v2-style CIFAR network (inverted residuals, 3x3 depthwise convolutions,
// ReLU6, batch norm; Layers/Zoo/CIFARMobileNetV2.swift) from scratch on the CIFAR-10 JPEG
// training images and saves it as HDF5: SGD 0.1, momentum 0.9, weight decay 1e-4, cosine
// schedule, batch 128, random crop + flip.
//
//   swift run -c release cifar10-mobilenet --epochs 30 --output mobilenet.h5
import ArgumentParser
import RecipeOptions
import Training

struct TrainMobileNet: ParsableCommand {
  @OptionGroup var options: FloatTrainingOptions
  func run() throws { try options.recipe("cifar10-mobilenet", .mobilenetv2).run() }
}

TrainMobileNet.main()
