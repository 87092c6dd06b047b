import Autograd
import Foundation
import Testing
import TensorCore
import TestSupport

/// Central-difference gradient checks for every differentiable primitive.
@Suite struct GradientCheckTests {
  func expectGradients(_ inputs: [Tensor], delta: Float = 1e-2, _ f: @escaping ([Tensor]) -> Tensor,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let mismatches = gradientCheck(inputs, delta: delta, f)
    #expect(mismatches.isEmpty, "\(mismatches.prefix(5))", sourceLocation: sourceLocation)
  }

  let a = randomTensor([3, 4], seed: 1)
  let b = randomTensor([3, 4], seed: 2)
  let row = randomTensor([4], seed: 3)
  let col = randomTensor([3, 1], seed: 4)
  let positive = randomTensor([3, 4], seed: 5, low: 0.5, high: 2)

  @Test func arithmeticWithBroadcasting() {
    expectGradients([a, b]) { $0[0] + $0[1] }
    expectGradients([a, row]) { $0[0] - $0[1] }
    expectGradients([col, row]) { $0[0] * $0[1] }
    expectGradients([a, positive]) { $0[0] / $0[1] }
    expectGradients([positive, col]) { $0[1] / $0[0] }
    expectGradients([a]) { -$0[0] * 3 + 1 }
    expectGradients([positive]) { 2 / $0[0] - 1 }
    expectGradients([positive]) { $0[0].pow(2.5) }
  }

  @Test func maximumMinimumSelect() {
    // operands at least 0.1 apart so no element sits within delta of a tie
    let x = Tensor((0..<12).map { Float($0) * 0.3 - 1.7 }, shape: [3, 4])
    let y = Tensor((0..<12).map { Float($0) * 0.3 - 1.7 + ($0 % 2 == 0 ? 0.2 : -0.2) }, shape: [3, 4])
    let r = Tensor([-1.05, 0.15, -0.25, 1.45])
    expectGradients([x, y]) { $0[0].maximum($0[1]) }
    expectGradients([x, y]) { $0[0].minimum($0[1]) }
    expectGradients([x, r]) { $0[0].maximum($0[1]) }
    let cond = Kernels.binary(.greater, a, Tensor(scalar: 0))
    expectGradients([a, b]) { Tensor.select(cond, $0[0], $0[1] * 2) }
  }

  @Test func unaryFunctions() {
    expectGradients([a]) { $0[0].exp() }
    expectGradients([positive]) { $0[0].log() }
    expectGradients([positive]) { $0[0].sqrt() }
    expectGradients([positive]) { $0[0].rsqrt() }
    expectGradients([a]) { $0[0].tanh() }
    expectGradients([a]) { $0[0].sigmoid() }
    expectGradients([a]) { $0[0].squared() }
    let awayFromZero = Kernels.binary(.add, a, Kernels.scaleShift(Kernels.unary(.sign, a), scale: 0.1, shift: 0))
    expectGradients([awayFromZero]) { $0[0].abs() }
    expectGradients([awayFromZero]) { $0[0].relu() }
    expectGradients([Kernels.scaleShift(awayFromZero, scale: 4, shift: 0)]) { $0[0].clamped(min: -2, max: 2) }
  }

  @Test func reductions() {
    let x = randomTensor([2, 3, 4], seed: 9)
    expectGradients([x]) { $0[0].sum() }
    expectGradients([x]) { $0[0].sum(axes: [1]) }
    expectGradients([x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
    expectGradients([x]) { $0[0].mean(axes: [-1]) }
    expectGradients([x]) { $0[0].max(axes: [1]) }
    expectGradients([x]) { $0[0].min(axes: [0, 2]) }
    // a reduction broadcast back against its input
    expectGradients([x]) { $0[0] - $0[0].mean(axes: [2], keepDims: true) }
  }

  @Test func movement() {
    let x = randomTensor([2, 3, 4], seed: 10)
    expectGradients([x]) { $0[0].reshaped(to: [4, -1]) }
    expectGradients([x]) { $0[0].permuted([2, 0, 1]) }
    expectGradients([x]) { $0[0].transposed() }
    expectGradients([row]) { $0[0].expanded(to: [3, 4]) }
    expectGradients([x]) { $0[0].sliced([.all, SliceRange(0, 3, step: 2), SliceRange(1, 4)]) }
    expectGradients([x]) { $0[0].padded(before: [0, 1, 2], after: [1, 0, 1], value: 0.5) }
    expectGradients([a, b]) { Tensor.concat([$0[0], $0[1] * 2], axis: 1) }
    expectGradients([x]) { let p = $0[0].split(sizes: [1, 3], axis: 2); return p[0] * p[1].sum(axes: [2], keepDims: true) }
    expectGradients([x]) { $0[0].flattened() }
  }

  @Test func matmulAndLinear() {
    let m = randomTensor([4, 5], seed: 11)
    expectGradients([a, m]) { $0[0].matmul($0[1]) }
    let batched = randomTensor([2, 3, 4], seed: 12)
    expectGradients([batched, m]) { $0[0].matmul($0[1]) }
    let w = randomTensor([6, 4], seed: 13), bias = randomTensor([6], seed: 14)
    expectGradients([a, w, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
    expectGradients([a, w]) { Tensor.linear($0[0], weight: $0[1], bias: nil) }
  }

  @Test(arguments: [
    ConvGeometry(stride: 1, padding: 1),
    ConvGeometry(stride: 2, padding: 1),
    ConvGeometry(stride: 1, padding: 2, dilation: 2),
    ConvGeometry(stride: 1, padding: 1, groups: 2),
    ConvGeometry(stride: (2, 1), padding: (1, 0, 0, 1), dilation: (1, 2), groups: 4),  // depthwise
  ])
  func convolution(_ g: ConvGeometry) {
    let x = randomTensor([2, 4, 6, 6], seed: 15)
    let w = randomTensor([4, 4 / g.groups, 3, 3], seed: 16)
    let bias = randomTensor([4], seed: 17)
    expectGradients([x, w, bias]) { Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], geometry: g) }
  }

  @Test func pooling() {
    // distinct values so the maximum of every window is unique
    var rng = RandomGenerator(seed: 18)
    let x = Tensor(rng.permutation(2 * 3 * 6 * 6).map { Float($0) * 0.05 }, shape: [2, 3, 6, 6])
    expectGradients([x]) { $0[0].maxPool2D(Pool2DGeometry(kernel: (2, 2))) }
    expectGradients([x]) { $0[0].maxPool2D(Pool2DGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1))) }
    expectGradients([x]) { $0[0].avgPool2D(Pool2DGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), countIncludePad: false) }
    expectGradients([x]) { $0[0].avgPool2D(Pool2DGeometry(kernel: (2, 2))) }
    expectGradients([x]) { $0[0].globalAvgPool2D() }
  }

  @Test func softmaxFamily() {
    expectGradients([a]) { $0[0].softmax() }
    expectGradients([a]) { $0[0].logSoftmax() }
    expectGradients([a]) { $0[0].softmaxCrossEntropy(labels: [0, 3, 1]) }
    expectGradients([a]) { $0[0].softmaxCrossEntropy(labels: [2, 2, 1], labelSmoothing: 0.1) }
    expectGradients([a, b]) { $0[0].meanSquaredError($0[1]) }
    expectGradients([a]) { $0[0].distillationLoss(teacherLogits: b, temperature: 1) }
    expectGradients([a]) { $0[0].distillationLoss(teacherLogits: b, temperature: 4) }
  }

  @Test func distillationLossValues() {
    // student [0, ln 3] → softmax [1/4, 3/4]; teacher [0, 0] → [1/2, 1/2]
    let student = Tensor([0, Float(log(3.0))], shape: [1, 2]), teacher = Tensor.zeros([1, 2])
    let t1 = student.distillationLoss(teacherLogits: teacher, temperature: 1).scalar
    #expect(abs(t1 - Float(0.5 * (log(4.0) + log(4.0 / 3.0)))) < 1e-6)
    // T = 2: softmax(student / 2) = [1, √3] / (1 + √3); loss · T²
    let r = 1 + 3.0.squareRoot()
    let t2 = student.distillationLoss(teacherLogits: teacher, temperature: 2).scalar
    #expect(abs(t2 - Float(4 * 0.5 * (log(r) + log(r / 3.0.squareRoot())))) < 1e-5)
    // A student equal to its teacher is at the minimum: zero gradient.
    let x = Parameter(a)
    let g = gradients(of: x.tensor.distillationLoss(teacherLogits: a, temperature: 3))[x]
    #expect(g?.scalars.allSatisfy { abs($0) < 1e-6 } == true)
  }

  @Test func batchNormAndChannelAffine() {
    let x = randomTensor([4, 3, 5, 5], seed: 19)
    let gamma = randomTensor([3], seed: 20, low: 0.5, high: 1.5), beta = randomTensor([3], seed: 21)
    expectGradients([x, gamma, beta], delta: 5e-3) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], epsilon: 1e-5).output }
    expectGradients([x, gamma, beta]) { Tensor.channelAffine($0[0], scale: $0[1], shift: $0[2]) }
  }

  @Test func compositeActivations() {
    // keep inputs away from the kinks at 0, ±3 and 6
    let x = Tensor([-4, -2.5, -1, -0.3, 0.4, 1.2, 2.5, 4, 5.5, 7])
    expectGradients([x]) { $0[0].relu6() }
    expectGradients([x]) { $0[0].leakyRelu(alpha: 0.1) }
    expectGradients([x]) { $0[0].hardSwish() }
    expectGradients([x]) { $0[0].hardSigmoid() }
    expectGradients([x]) { $0[0].silu() }
  }
}
