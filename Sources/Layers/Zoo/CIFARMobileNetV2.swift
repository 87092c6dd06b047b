import Autograd
import TensorCore

/// A MobileNet-v2-style network for 32×32 inputs (Sandler et al. 2018): a 3×3 stem, inverted
/// residual blocks (1×1 expansion + BN + ReLU6, 3×3 depthwise + BN + ReLU6, linear 1×1
/// projection + BN, a residual add where shapes allow), a 1×1 head + BN + ReLU6, global average
/// pooling and a linear classifier. The CIFAR variant keeps the first stages at stride 1 and uses
/// fewer, narrower stages (about 14 M multiply-adds per image, a third of ResNet-20's).
public enum CIFARMobileNetV2 {
  /// (expansion t, output channels c, blocks n, first stride s) per stage.
  public static let stages: [(t: Int, c: Int, n: Int, s: Int)] = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2), (6, 96, 1, 1)]
  public static let stemChannels = 32
  public static let headChannels = 256

  public static func make(classes: Int = 10, seed: UInt64 = 0) throws -> Model {
    guard classes >= 1 else { throw ModelDefinitionError("CIFARMobileNetV2: classes must be at least 1, got \(classes)") }
    var b = ModelBuilder(seed: seed)
    var x = b.input(shape: [3, 32, 32])
    x = convBN(&b, "stem", x, 3, stemChannels, kernel: 3, stride: 1, groups: 1, relu6: true)
    var channels = stemChannels
    for (k, stage) in stages.enumerated() {
      for i in 0..<stage.n {
        x = invertedResidual(&b, "stage\(k + 1).\(i)", x, channels, stage.c, expansion: stage.t, stride: i == 0 ? stage.s : 1)
        channels = stage.c
      }
    }
    x = convBN(&b, "head", x, channels, headChannels, kernel: 1, stride: 1, groups: 1, relu6: true)
    x = b.add("avgpool", GlobalAvgPool(), x)
    x = b.add("flatten", Flatten(), x)
    x = b.linear("classifier", x, headChannels, classes)
    let model = b.build(output: x)
    CIFARResNet.heInitialize(model, seed: seed)
    return model
  }

  static func convBN(_ b: inout ModelBuilder, _ name: String, _ x: NodeRef, _ cin: Int, _ cout: Int, kernel: Int, stride: Int,
                     groups: Int, relu6: Bool) -> NodeRef {
    var y = b.conv2d(name + ".conv", x, cin, cout, kernel: kernel, stride: stride, padding: kernel / 2, groups: groups, bias: false)
    y = b.add(name + ".bn", BatchNorm2D(cout), y)
    return relu6 ? b.add(name + ".relu6", ReLU6(), y) : y
  }

  static func invertedResidual(_ b: inout ModelBuilder, _ name: String, _ x: NodeRef, _ cin: Int, _ cout: Int,
                               expansion t: Int, stride: Int) -> NodeRef {
    let hidden = cin * t
    var y = x
    if t != 1 { y = convBN(&b, name + ".expand", y, cin, hidden, kernel: 1, stride: 1, groups: 1, relu6: true) }
    y = convBN(&b, name + ".dw", y, hidden, hidden, kernel: 3, stride: stride, groups: hidden, relu6: true)
    y = convBN(&b, name + ".project", y, hidden, cout, kernel: 1, stride: 1, groups: 1, relu6: false)
    return stride == 1 && cin == cout ? b.add(name + ".add", Add(), [y, x]) : y
  }
}
