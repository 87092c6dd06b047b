import Layers
import TensorCore

/// A small generated image-classification problem that needs no download: 16x16 grayscale images
/// of four pattern classes (horizontal stripes, vertical stripes, checkerboard, centred blob) with
/// random phase, contrast and noise. Used by `qat demo` and tests.
public enum SyntheticShapes {
  public static let classes = ["horizontal", "vertical", "checker", "blob"]

  /// `count` images [count, 1, 16, 16] and labels, deterministic in `seed`.
  public static func make(count: Int, seed: UInt64) -> (images: Tensor, labels: [Int]) {
    var rng = RandomGenerator(seed: seed)
    var labels: [Int] = []
    let images = Tensor(shape: [count, 1, 16, 16]) { buf in
      for n in 0..<count {
        let label = n % 4
        labels.append(label)
        let period = 2 + rng.nextInt(below: 3), phase = rng.nextInt(below: period)
        let contrast = 0.5 + rng.nextFloat(), radius = 3 + Float(rng.nextInt(below: 4))
        for y in 0..<16 {
          for x in 0..<16 {
            let v: Float
            switch label {
            case 0: v = (y + phase) % period < period / 2 + 1 ? 1 : -1
            case 1: v = (x + phase) % period < period / 2 + 1 ? 1 : -1
            case 2: v = ((x + phase) / 2 + (y + phase) / 2) % 2 == 0 ? 1 : -1
            default:
              let dx = Float(x) - 7.5, dy = Float(y) - 7.5
              v = (dx * dx + dy * dy).squareRoot() < radius ? 1 : -1
            }
            buf[((n * 16) + y) * 16 + x] = contrast * v + 0.3 * rng.nextNormal()
          }
        }
      }
    }
    return (images, labels)
  }

  /// A small CNN for the problem: conv-BN-ReLU, max pool, conv-BN-ReLU, global pool, linear.
  public static func model(seed: UInt64) -> Model {
    var b = ModelBuilder(seed: seed)
    var x = b.input(shape: [1, 16, 16])
    x = b.conv2d("conv1", x, 1, 8, kernel: 3, padding: 1, bias: false)
    x = b.add("bn1", BatchNorm2D(8), x)
    x = b.add("relu1", ReLU(), x)
    x = b.add("pool", MaxPool2D(kernel: 2), x)
    x = b.conv2d("conv2", x, 8, 16, kernel: 3, padding: 1, bias: false)
    x = b.add("bn2", BatchNorm2D(16), x)
    x = b.add("relu2", ReLU(), x)
    x = b.add("avgpool", GlobalAvgPool(), x)
    x = b.add("flatten", Flatten(), x)
    x = b.linear("fc", x, 16, 4)
    return b.build(output: x)
  }
}
