import Testing
import TensorCore
import TestSupport

@Suite struct ConvTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var input: Shape, outChannels: Int, kernel: (Int, Int), geometry: ConvGeometry
    var testDescription: String { "x\(input) o\(outChannels) k\(kernel) s\(geometry.strideH) p\(geometry.padTop) d\(geometry.dilationH) g\(geometry.groups)" }
  }

  static let cases: [Case] = [
    Case(input: [2, 3, 8, 8], outChannels: 4, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 1)),
    Case(input: [1, 4, 9, 7], outChannels: 6, kernel: (3, 3), geometry: ConvGeometry(stride: 2, padding: 1)),
    Case(input: [2, 4, 10, 10], outChannels: 4, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 2, dilation: 2)),
    Case(input: [1, 6, 8, 8], outChannels: 4, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 1, groups: 2)),
    Case(input: [2, 8, 7, 7], outChannels: 8, kernel: (3, 3), geometry: ConvGeometry(stride: 2, padding: 1, groups: 8)),  // depthwise
    Case(input: [1, 3, 6, 5], outChannels: 2, kernel: (1, 1), geometry: ConvGeometry()),
    Case(input: [1, 2, 7, 7], outChannels: 3, kernel: (5, 3), geometry: ConvGeometry(stride: (1, 2), padding: (2, 1, 1, 0))),
    // few input channels at stride 1 (the direct input-gradient kernel): asymmetric padding,
    // rows wider than one 32-column block, no padding
    Case(input: [2, 2, 7, 9], outChannels: 3, kernel: (5, 3), geometry: ConvGeometry(stride: (1, 1), padding: (2, 1, 1, 0))),
    Case(input: [2, 3, 5, 70], outChannels: 5, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 1)),
    Case(input: [1, 1, 6, 6], outChannels: 2, kernel: (2, 2), geometry: ConvGeometry()),
    // 3-wide kernels with output channels a multiple of 8 (the register-tiled weight gradient):
    // tiles of 1, 2 and 3 channel blocks, strides 1 and 2, asymmetric padding, a 5-row kernel
    Case(input: [2, 5, 9, 11], outChannels: 8, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 1)),
    Case(input: [3, 4, 10, 9], outChannels: 40, kernel: (5, 3), geometry: ConvGeometry(stride: (2, 1), padding: (2, 1, 1, 0))),
    Case(input: [2, 16, 8, 8], outChannels: 56, kernel: (3, 3), geometry: ConvGeometry(stride: 2, padding: 1)),
    Case(input: [1, 3, 7, 7], outChannels: 24, kernel: (1, 3), geometry: ConvGeometry(stride: (1, 1), padding: (0, 1, 0, 1))),
    Case(input: [2, 3, 6, 6], outChannels: 8, kernel: (3, 3), geometry: ConvGeometry(stride: (1, 1), padding: (4, 1, 5, 2))),
  ]

  @Test(arguments: cases)
  func forwardMatchesDirectConvolution(_ c: Case) {
    let w = randomTensor([c.outChannels, c.input[1] / c.geometry.groups, c.kernel.0, c.kernel.1], seed: 2)
    let x = randomTensor(c.input, seed: 1)
    let b = randomTensor([c.outChannels], seed: 3)
    let y = Kernels.conv2d(x, weight: w, bias: b, geometry: c.geometry)
    let ref = referenceConv2d(x, w, b, c.geometry)
    #expect(y.shape == ref.shape)
    #expect(maxAbsDifference(y, ref) < 1e-5)
    let noBias = Kernels.conv2d(x, weight: w, geometry: c.geometry)
    #expect(maxAbsDifference(noBias, referenceConv2d(x, w, nil, c.geometry)) < 1e-5)
  }

  @Test(arguments: cases)
  func backwardMatchesDirectGradients(_ c: Case) {
    let w = randomTensor([c.outChannels, c.input[1] / c.geometry.groups, c.kernel.0, c.kernel.1], seed: 5)
    let x = randomTensor(c.input, seed: 4)
    let outShape = c.geometry.outputShape(input: x.shape, weight: w.shape)
    let gy = randomTensor(outShape, seed: 6)
    let (rdx, rdw, rdb) = referenceConv2dBackward(gy, x, w, c.geometry)
    let dx = Kernels.conv2dBackwardData(gy, weight: w, inputShape: x.shape, geometry: c.geometry)
    let (dw, db) = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: c.geometry, withBias: true)
    #expect(maxAbsDifference(dx, rdx) < 1e-4)
    #expect(maxAbsDifference(dw, rdw) < 1e-4)
    #expect(maxAbsDifference(db!, rdb) < 1e-4)
  }

  /// The image layer's input gradient (direct kernel) reads a channel-blocked gradient as the
  /// layer after it produces one, with the same bits as from row-major.
  @Test func fewChannelInputGradientFromBlockedGradient() {
    let g = ConvGeometry(stride: 1, padding: 1)
    let w = randomTensor([16, 3, 3, 3], seed: 8)
    let x = randomTensor([2, 3, 9, 11], seed: 7)
    let gy = randomTensor(g.outputShape(input: x.shape, weight: w.shape), seed: 9)
    let plain = Kernels.conv2dBackwardData(gy, weight: w, inputShape: x.shape, geometry: g)
    let blocked = Kernels.conv2dBackwardData(Kernels.convertLayout(gy, to: .channelBlocked(8)), weight: w,
                                             inputShape: x.shape, geometry: g)
    #expect(plain.scalars == blocked.scalars)
    #expect(maxAbsDifference(plain, referenceConv2dBackward(gy, x, w, g).0) < 1e-4)
  }

  /// The weight gradient reads channel-blocked inputs and gradients (as the training step passes
  /// them) with the same bits as row-major ones, and does not depend on the thread count.
  @Test func weightGradientFromBlockedOperandsAndAnyThreadCount() {
    let g = ConvGeometry(stride: 2, padding: 1)
    let x = randomTensor([20, 16, 9, 9], seed: 10), w = randomTensor([32, 16, 3, 3], seed: 11)
    let gy = randomTensor(g.outputShape(input: x.shape, weight: w.shape), seed: 12)
    let plain = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: true)
    let blocked = Kernels.conv2dBackwardWeights(Kernels.convertLayout(gy, to: .channelBlocked(8)),
                                                input: Kernels.convertLayout(x, to: .channelBlocked(8)),
                                                weightShape: w.shape, geometry: g, withBias: true)
    let previous = Threading.threads
    Threading.configure(threads: previous == 1 ? 2 : 1)
    let other = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: true)
    Threading.configure(threads: previous)
    let blocked16 = Kernels.conv2dBackwardWeights(gy, input: Kernels.convertLayout(x, to: .channelBlocked(16)),
                                                  weightShape: w.shape, geometry: g, withBias: true)
    #expect(plain.weight.scalars == blocked.weight.scalars && plain.bias!.scalars == blocked.bias!.scalars)
    #expect(plain.weight.scalars == blocked16.weight.scalars)
    #expect(plain.weight.scalars == other.weight.scalars && plain.bias!.scalars == other.bias!.scalars)
    let (_, rdw, rdb) = referenceConv2dBackward(gy, x, w, g)
    #expect(maxAbsDifference(plain.weight, rdw) < 1e-4 && maxAbsDifference(plain.bias!, rdb) < 1e-4)
  }

  /// No images: a zero weight gradient.
  @Test func weightGradientOfAnEmptyBatchIsZero() {
    let g = ConvGeometry(stride: 1, padding: 1)
    let dw = Kernels.conv2dBackwardWeights(Tensor.zeros([0, 8, 4, 4]), input: Tensor.zeros([0, 4, 4, 4]),
                                           weightShape: [8, 4, 3, 3], geometry: g, withBias: false).weight
    #expect(dw.shape == [8, 4, 3, 3] && dw.scalars.allSatisfy { $0 == 0 })
  }

  /// Integer-valued operands within 2^24 give exact results, whatever the kernel's summation order
  /// (what bit-exact fake-quant relies on).
  @Test func integerValuedConvolutionIsExact() {
    var rng = RandomGenerator(seed: 8)
    let x = Tensor(shape: [2, 64, 8, 8]) { for i in 0..<$0.count { $0[i] = Float(rng.nextInt(below: 256) - 128) } }
    let w = Tensor(shape: [64, 64, 3, 3]) { for i in 0..<$0.count { $0[i] = Float(rng.nextInt(below: 256) - 128) } }
    let g = ConvGeometry(stride: 1, padding: 1)
    #expect(Kernels.conv2d(x, weight: w, geometry: g).scalars == referenceConv2d(x, w, nil, g).scalars)
  }

  @Test func repeatedRunsAreBitwiseIdentical() {
    let x = randomTensor([8, 16, 16, 16], seed: 1), w = randomTensor([16, 16, 3, 3], seed: 2)
    let g = ConvGeometry(stride: 1, padding: 1)
    let gy = randomTensor([8, 16, 16, 16], seed: 3)
    let a = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: false).weight
    let b = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: false).weight
    #expect(a.scalars == b.scalars)
    #expect(Kernels.conv2d(x, weight: w, geometry: g).scalars == Kernels.conv2d(x, weight: w, geometry: g).scalars)
  }
}

@Suite struct FakeQuantKernelTests {
  @Test func powerOfTwoGrid() {
    // Q4.3 signed 8-bit: scale 1/8, q in [-128, 127]
    let grid = QuantGrid(scale: 0.125, qmin: -128, qmax: 127, rounding: .halfToEven)
    let x = Tensor([0.0625, 0.1875, -0.0625, 100, -100, 1.3])
    #expect(Kernels.fakeQuantize(x, grid).scalars == [0, 0.25, -0, 15.875, -16, 1.25])
    let up = QuantGrid(scale: 0.125, qmin: -128, qmax: 127, rounding: .halfUp)
    #expect(Kernels.fakeQuantize(x, up).scalars == [0.125, 0.25, 0, 15.875, -16, 1.25])
    let g = Kernels.fakeQuantizeGradient(Tensor.ones([6]), x, grid)
    #expect(g.scalars == [1, 1, 1, 0, 0, 1])
  }

  @Test func affineGridWithZeroPoint() {
    let grid = QuantGrid(scale: 0.1, zeroPoint: 10, qmin: 0, qmax: 255, rounding: .halfToEven)
    let y = Kernels.fakeQuantize(Tensor([-1.0, -2.0, 24.6, 30]), grid).scalars
    #expect(abs(y[0] + 1.0) < 1e-6 && abs(y[1] + 1.0) < 1e-6 && abs(y[2] - 24.5) < 1e-5 && abs(y[3] - 24.5) < 1e-5)
  }

  @Test func perChannel() {
    let x = Tensor([0.3, 0.3, 0.3, 0.3], shape: [2, 2])
    let y = Kernels.fakeQuantize(x, axis: 0, scales: [0.5, 0.25], zeroPoints: nil, qmin: -8, qmax: 7, rounding: .halfToEven)
    #expect(y.scalars == [0.5, 0.5, 0.25, 0.25])
  }
}
