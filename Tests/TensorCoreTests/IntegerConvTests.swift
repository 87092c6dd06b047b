import Testing
import TensorCore
import TestSupport

/// The simulator's integer convolution (direct int32 kernel with fused requantization, the int32
/// path with separate requantization, and the int64 path) against a naive exact reference.
@Suite struct IntegerConvTests {
  struct Case: CustomStringConvertible {
    var n = 2, c = 6, h = 9, w = 11, o = 10, kh = 3, kw = 3
    var geometry = ConvGeometry(stride: 1, padding: 1)
    var description: String { "n\(n) c\(c) \(h)x\(w) o\(o) k\(kh)x\(kw) \(geometry)" }
  }

  static let cases: [Case] = {
    var list = [Case()]
    list.append(Case(n: 6, geometry: ConvGeometry(stride: 2, padding: 1)))  // batch large enough for image-by-image
    list.append(Case(c: 3, h: 32, w: 32, o: 16))                                    // image-like, odd channels, 16-pixel tiles
    list.append(Case(c: 16, h: 16, w: 16, o: 32, geometry: ConvGeometry(stride: 2, padding: 1)))
    list.append(Case(c: 8, h: 10, w: 13, o: 12, kh: 1, kw: 1, geometry: ConvGeometry(stride: 2)))
    list.append(Case(c: 7, h: 12, w: 12, o: 9, geometry: ConvGeometry(stride: 1, padding: 2, dilation: 2)))
    list.append(Case(c: 8, h: 9, w: 17, o: 8, geometry: ConvGeometry(stride: 1, padding: 1, groups: 8)))   // depthwise
    list.append(Case(c: 12, h: 8, w: 8, o: 6, geometry: ConvGeometry(stride: 1, padding: 1, groups: 3)))
    list.append(Case(c: 5, h: 11, w: 14, o: 7, kh: 3, kw: 5,
                     geometry: ConvGeometry(stride: (2, 1), padding: (1, 2, 0, 2), dilation: (1, 2))))  // unequal
    list.append(Case(n: 3, c: 64, h: 1, w: 1, o: 10, kh: 1, kw: 1))                 // linear as 1x1
    return list
  }()

  static func random(_ count: Int, _ lo: Int, _ hi: Int, seed: UInt64) -> [Int16] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Int16(lo + Int(rng.next() % UInt64(hi - lo + 1))) }
  }

  /// Exact sums in Int64 by the definition of convolution.
  static func reference(_ x: IntTensor, _ w: IntTensor, _ g: ConvGeometry) -> (sums: [Int64], shape: Shape) {
    let shape = g.outputShape(input: x.shape, weight: w.shape)
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let (oh, ow) = (shape[2], shape[3])
    let og = o / g.groups
    var sums = [Int64](repeating: 0, count: shape.count)
    for b in 0..<n { for m in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
      var s: Int64 = 0
      for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
        let iy = oy * g.strideH - g.padTop + ky * g.dilationH, ix = ox * g.strideW - g.padLeft + kx * g.dilationW
        guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
        let ch = (m / og) * cg + ci
        s += Int64(x.codes[((b * c + ch) * h + iy) * wd + ix]) * Int64(w.codes[((m * cg + ci) * kh + ky) * kw + kx])
      } } }
      sums[((b * o + m) * oh + oy) * ow + ox] = s
    } } } }
    return (sums, shape)
  }

  @Test(arguments: cases) func matchesTheExactReference(_ t: Case) throws {
    try check(t)
  }

  /// Inputs in [0, 127] (8-bit codes after ReLU) take the byte-product kernel (vpmaddubsw); the
  /// worst case for its int16 pair sums (127 · −128 twice) included.
  @Test(arguments: cases) func byteProductsMatchTheExactReference(_ t: Case) throws {
    try check(t, nonNegativeInput: true)
    let (x, w) = Self.operands(t, nonNegativeInput: true)
    let (sums, _) = Self.reference(x, w, t.geometry)
    let bytes = try #require(IntegerKernels.convolutionSums(x, weight: w, geometry: t.geometry, form: .bytes))
    let pairs = try #require(IntegerKernels.convolutionSums(x, weight: w, geometry: t.geometry, form: .pairs))
    #expect(bytes.map(Int64.init) == sums)
    #expect(pairs == bytes)
    // one code of 128 or a negative input: the byte form is not exact and is refused
    // (unsigned 8-bit codes reach 255; signed ones may be negative)
    for (bad, signed): (Int16, Bool) in [(128, false), (255, false), (-1, true)] {
      var codes = x.codes
      codes[codes.count / 2] = bad
      let xb = IntTensor(shape: x.shape, codes: codes, format: FixedPointFormat(bits: 8, signed: signed, fractionalBits: 4))
      #expect(IntegerKernels.convolutionSums(xb, weight: w, geometry: t.geometry, form: .bytes) == nil)
      let (expected, _) = Self.reference(xb, w, t.geometry)
      #expect(IntegerKernels.convolutionSums(xb, weight: w, geometry: t.geometry, form: .pairs)?.map(Int64.init) == expected)
    }
  }

  /// The scalar tiles used on machines without AVX2. (Other tests running meanwhile may take them
  /// too; their results are identical by construction.)
  @Test func portableTilesMatchTheExactReference() throws {
    IntegerKernels.usePortableConvolution(true)
    defer { IntegerKernels.usePortableConvolution(false) }
    for t in Self.cases.prefix(3) {
      try check(t)
      try check(t, nonNegativeInput: true)
    }
  }

  /// Reductions too long for byte products in int32 take the int64 path.
  @Test func longReductionsUseInt64() throws {
    let k = 33_100
    let f16 = FixedPointFormat(bits: 16, fractionalBits: 0)
    let x = IntTensor(shape: [1, k, 1, 1], codes: Self.random(k, -32768, 32767, seed: 6), format: f16)
    let w = IntTensor(shape: [2, k, 1, 1], codes: Self.random(2 * k, -32768, 32767, seed: 7), format: f16)
    let (sums, _) = Self.reference(x, w, ConvGeometry())
    let out = FixedPointFormat(bits: 16, fractionalBits: -24)  // sums ~2^37: codes ~2^13
    let y = IntegerKernels.conv2d(x, weight: w, packed: nil, bias: nil, geometry: ConvGeometry(), activation: .identity,
                                  output: out, rounding: .halfToEven)
    #expect(y.codes == sums.map { Int16(FixedPointMath.requantize($0, fromFractionalBits: 0, to: out, .halfToEven)) })
  }

  /// Random 8-bit operands; with `nonNegativeInput` the input is in [0, 127] and the first half of
  /// it and of the weights sit at the extremes 127 and −128.
  static func operands(_ t: Case, nonNegativeInput: Bool = false) -> (IntTensor, IntTensor) {
    let xf = FixedPointFormat(bits: 8, fractionalBits: 4), wf = FixedPointFormat(bits: 8, fractionalBits: 6)
    var xc = random(t.n * t.c * t.h * t.w, nonNegativeInput ? 0 : -128, 127, seed: 1)
    let cg = t.c / t.geometry.groups
    var wc = random(t.o * cg * t.kh * t.kw, -128, 127, seed: 2)
    if nonNegativeInput {
      for i in 0..<xc.count / 2 { xc[i] = 127 }
      for i in 0..<wc.count / 2 { wc[i] = -128 }
    }
    return (IntTensor(shape: [t.n, t.c, t.h, t.w], codes: xc, format: xf), IntTensor(shape: [t.o, cg, t.kh, t.kw], codes: wc, format: wf))
  }

  func check(_ t: Case, nonNegativeInput: Bool = false) throws {
    let (x, w) = Self.operands(t, nonNegativeInput: nonNegativeInput)
    let biasFormat = FixedPointFormat(bits: 16, fractionalBits: 10)
    let bias = IntTensor(shape: [t.o], codes: Self.random(t.o, -30000, 30000, seed: 3), format: biasFormat)
    let (sums, shape) = Self.reference(x, w, t.geometry)
    let plane = shape[2] * shape[3]
    let packed = IntegerKernels.pack(w, groups: t.geometry.groups)
    // (activation, output fractional bits): fused (relu / none, shift 1...30), and the general path
    // (relu6 works at 8 more bits; an output finer than the sums needs a left shift)
    let variants: [(FusedActivation, Int)] = [(.relu, 3), (.identity, 1), (.identity, 9), (.relu6, 4), (.leakyRelu, 5), (.identity, 12)]
    for rule in RoundingRule.allCases {
      for (activation, fo) in variants {
        let out = FixedPointFormat(bits: 8, fractionalBits: fo)
        for withBias in [true, false] {
          let y = IntegerKernels.conv2d(x, weight: w, packed: packed, bias: withBias ? bias : nil, geometry: t.geometry,
                                        activation: activation, output: out, rounding: rule)
          #expect(y.shape == shape)
          var expected = [Int16](repeating: 0, count: sums.count)
          let f = max(10, 4 + 6)  // bias at 10 fractional bits, products at 4 + 6
          for i in 0..<sums.count {
            var s = sums[i] + (withBias ? Int64(bias.codes[(i / plane) % t.o]) : 0)
            var fe = f
            switch activation {
            case .identity: break
            case .relu: s = max(s, 0)
            case .relu6: s = min(max(s * 256, 0), Int64(6) << Int64(f + 8)); fe += 8
            case .leakyRelu: s = s < 0 ? s * 26 : s * 256; fe += 8
            }
            expected[i] = Int16(FixedPointMath.requantize(s, fromFractionalBits: fe, to: out, rule))
          }
          let bad = zip(y.codes, expected).enumerated().filter { $0.element.0 != $0.element.1 }.count
          #expect(bad == 0, "\(t) \(rule) \(activation) f\(fo) bias \(withBias): \(bad) of \(expected.count) codes differ")
        }
      }
    }
    // 16-bit operands (split into bytes for the int32 kernel), including the extreme codes
    var x16codes = Self.random(x.codes.count, -32768, 32767, seed: 4)
    x16codes[0] = -32768; x16codes[1] = 32767
    let x16 = IntTensor(shape: x.shape, codes: x16codes, format: FixedPointFormat(bits: 16, fractionalBits: 8))
    var w16codes = Self.random(w.codes.count, -32768, 32767, seed: 5)
    w16codes[0] = -32768
    let w16 = IntTensor(shape: w.shape, codes: w16codes, format: FixedPointFormat(bits: 16, fractionalBits: 12))
    let out16 = FixedPointFormat(bits: 16, fractionalBits: 8)
    for (xi, wi) in [(x16, w), (x, w16), (x16, w16)] {
      let (sums16, _) = Self.reference(xi, wi, t.geometry)
      let f = xi.format.fractionalBits + wi.format.fractionalBits
      let y16 = IntegerKernels.conv2d(xi, weight: wi, packed: nil, bias: nil, geometry: t.geometry, activation: .identity,
                                      output: out16, rounding: .halfToEven)
      #expect(y16.codes == sums16.map { Int16(FixedPointMath.requantize($0, fromFractionalBits: f, to: out16, .halfToEven)) },
              "\(t) x\(xi.format.bits) w\(wi.format.bits)")
    }
  }
}
