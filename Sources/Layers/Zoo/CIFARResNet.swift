import Autograd
import TensorCore

/// ResNet for CIFAR-10 (He et al. 2015, the variant of akamaster/pytorch_resnet_cifar10):
/// 3x3 stem, three stages of basic blocks (16, 32, 64 channels), option-A shortcuts (strided
/// subsampling plus zero channel padding, no parameters), global average pool, linear head.
/// Node and parameter names equal the PyTorch state-dict keys.
public enum CIFARResNet {
  /// depth = 6n + 2 with n ≥ 1 (20, 32, 44, 56, 110); throws for other depths.
  public static func make(depth: Int = 20, classes: Int = 10, seed: UInt64 = 0) throws -> Model {
    guard depth >= 8, (depth - 2) % 6 == 0 else {
      throw ModelDefinitionError("CIFARResNet: depth must be 6n + 2 with n ≥ 1 (20, 32, 44, 56, 110), got \(depth)")
    }
    guard classes >= 1 else { throw ModelDefinitionError("CIFARResNet: classes must be at least 1, got \(classes)") }
    return build(blocks: (depth - 2) / 6, classes: classes, seed: seed)
  }

  public static func resnet20(classes: Int = 10, seed: UInt64 = 0) -> Model { build(blocks: 3, classes: classes, seed: seed) }

  static func build(blocks: Int, classes: Int, seed: UInt64) -> Model {
    var b = ModelBuilder(seed: seed)
    var x = b.input(shape: [3, 32, 32])
    x = b.conv2d("conv1", x, 3, 16, kernel: 3, padding: 1, bias: false)
    x = b.add("bn1", BatchNorm2D(16), x)
    x = b.add("relu", ReLU(), x)
    var channels = 16
    for (stage, width) in [16, 32, 64].enumerated() {
      for i in 0..<blocks {
        let stride = (i == 0 && stage > 0) ? 2 : 1
        x = basicBlock(&b, "layer\(stage + 1).\(i)", x, channels, width, stride)
        channels = width
      }
    }
    x = b.add("avgpool", GlobalAvgPool(), x)
    x = b.add("flatten", Flatten(), x)
    x = b.linear("linear", x, 64, classes)
    let model = b.build(output: x)
    heInitialize(model, seed: seed)
    return model
  }

  static func basicBlock(_ b: inout ModelBuilder, _ name: String, _ x: NodeRef, _ inC: Int, _ outC: Int, _ stride: Int) -> NodeRef {
    var y = b.conv2d("\(name).conv1", x, inC, outC, kernel: 3, stride: stride, padding: 1, bias: false)
    y = b.add("\(name).bn1", BatchNorm2D(outC), y)
    y = b.add("\(name).relu1", ReLU(), y)
    y = b.conv2d("\(name).conv2", y, outC, outC, kernel: 3, padding: 1, bias: false)
    y = b.add("\(name).bn2", BatchNorm2D(outC), y)
    var shortcut = x
    if stride != 1 || inC != outC {
      // option A: x[:, :, ::2, ::2], then (outC − inC)/2 zero channels on each side
      shortcut = b.add("\(name).shortcut.slice",
                       Slice([.all, .all, SliceRange(0, Int.max, step: stride), SliceRange(0, Int.max, step: stride)]), x)
      let p = (outC - inC) / 2
      shortcut = b.add("\(name).shortcut.pad", Pad(before: [0, p, 0, 0], after: [0, p, 0, 0]), shortcut)
    }
    let sum = b.add("\(name).add", Add(), [y, shortcut])
    return b.add("\(name).relu2", ReLU(), sum)
  }

  /// Kaiming-normal weights for every conv and linear layer (as the reference implementation).
  static func heInitialize(_ model: Model, seed: UInt64) {
    var rng = RandomGenerator(seed: seed &+ 0x5EED)
    for node in model.nodes {
      if let c = node.layer as? Conv2D { c.kaimingNormal(using: &rng) }
      if let l = node.layer as? Linear { l.kaimingNormal(using: &rng) }
    }
  }
}
