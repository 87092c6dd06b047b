import ArgumentParser
import CBLAS
import CKernels
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct KernelsBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kernels",
    abstract: "GEMM, convolution (ResNet-20 shapes; depthwise and pointwise shapes of the MobileNet-v2-style CIFAR network; batch 128) and elementwise throughput.")

  @OptionGroup var options: BenchOptions
  @Option(help: "Batch size for the convolution shapes.") var batch = 128
  @Option(help: "Groups to run: gemm, conv, depthwise, intconv, elementwise (comma-separated; default all).")
  var only: String = "gemm,conv,depthwise,intconv,elementwise"

  func run() {
    options.apply()
    let groups = Set(only.split(separator: ",").map(String.init))
    if groups.contains("gemm") { gemm(); settle() }
    if groups.contains("conv") { convolutions(); settle() }
    if groups.contains("depthwise") { mobileNetConvolutions(); settle() }
    if groups.contains("intconv") { integerConvolutions(); settle() }
    if groups.contains("elementwise") { elementwise() }
  }

  /// The simulator's exact int8 convolution (requantization and ReLU fused) on the ResNet-20
  /// shapes, against cblas_sgemm of the same GEMM shape measured in the same run.
  func integerConvolutions() {
    let layers: [(String, Int, Int, Int, Int)] = [
      ("3-16-32", 3, 16, 32, 1), ("16-16-32", 16, 16, 32, 1), ("16-32-32-s2", 16, 32, 32, 2),
      ("32-32-16", 32, 32, 16, 1), ("32-64-16-s2", 32, 64, 16, 2), ("64-64-8", 64, 64, 8, 1),
    ]
    var references: [Double] = []
    for (_, cin, cout, h, s) in layers {
      let o = (h - 1) / s + 1
      references.append(sgemmSeconds(m: cout, n: batch * o * o, k: 9 * cin))
    }
    settle()
    var ratios: [Double] = []
    for ((name, cin, cout, h, s), ref) in zip(layers, references) {
      let g = ConvGeometry(stride: s, padding: 1)
      var rng = RandomGenerator(seed: 4)
      let xf = FixedPointFormat(bits: 8, fractionalBits: 5), wf = FixedPointFormat(bits: 8, fractionalBits: 7)
      let x = IntTensor(shape: [batch, cin, h, h], codes: (0..<batch * cin * h * h).map { _ in Int16(rng.nextInt(below: 128)) }, format: xf)
      let w = IntTensor(shape: [cout, cin, 3, 3], codes: (0..<cout * cin * 9).map { _ in Int16(rng.nextInt(below: 256) - 128) }, format: wf)
      let packed = IntegerKernels.pack(w, groups: 1)
      let out = FixedPointFormat(bits: 8, fractionalBits: 5)
      let t = medianSeconds(repeats: options.repeats) {
        _ = IntegerKernels.conv2d(x, weight: w, packed: packed, bias: nil, geometry: g, activation: .relu, output: out, rounding: .halfUp)
      }
      // the two product forms on the same operands (sums only): int16 pairs and bytes
      let forms = [IntegerKernels.ProductForm.pairs, .bytes].map { form in
        medianSeconds(repeats: options.repeats) { _ = IntegerKernels.convolutionSums(x, weight: w, geometry: g, form: form) }
      }
      let o = (h - 1) / s + 1
      let ops = 2.0 * Double(batch * o * o * cout * 9 * cin)
      ratios.append(ref / t)
      emit([("name", "intconv-\(name)"), ("gops", ops / t / 1e9), ("sgemm_gflops", ops / ref / 1e9), ("ratio", ref / t),
            ("ms", t * 1e3), ("pairs_sums_ms", forms[0] * 1e3), ("bytes_sums_ms", forms[1] * 1e3),
            ("bytes_speedup", forms[0] / forms[1]), ("batch", batch), ("threads", options.threads)])
    }
    let geo = Glibc.exp(ratios.map { Glibc.log($0) }.reduce(0, +) / Double(ratios.count))
    emit([("name", "intconv-geomean"), ("ratio", geo)])
  }

  func gemm() {
    var rng = RandomGenerator(seed: 1)
    for n in [256, 512, 1024] {
      let a = Tensor.uniform([n, n], using: &rng), b = Tensor.uniform([n, n], using: &rng)
      let flops = 2.0 * Double(n * n * n)
      var c = [Float](repeating: 0, count: n * n)
      let (ours, direct) = pairedMedianSeconds(repeats: options.repeats * 3, { _ = Kernels.matmul(a, b) }) {
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeBufferPointer { pb in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n), 1,
                        pa.baseAddress, blasint(n), pb.baseAddress, blasint(n), 0, &c, blasint(n))
          }
        }
      }
      emit([("name", "gemm-\(n)"), ("gflops", flops / ours / 1e9), ("reference_gflops", flops / direct / 1e9),
            ("ratio", direct / ours), ("threads", options.threads)])
    }
  }

  /// One cblas_sgemm of shape (m, n, k) on fresh buffers.
  func sgemmBody(m: Int, n: Int, k: Int) -> () -> Void {
    let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
    var c = [Float](repeating: 0, count: m * n)
    return {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(k),
                  b, blasint(n), 0, &c, blasint(n))
    }
  }

  func sgemmSeconds(m: Int, n: Int, k: Int) -> Double {
    medianSeconds(repeats: options.repeats, sgemmBody(m: m, n: n, k: k))
  }

  func convolutions() {
    // (name, Cin, Cout, H, stride) of the CIFAR ResNet-20 3x3 convolutions
    let layers: [(String, Int, Int, Int, Int)] = [
      ("3-16-32", 3, 16, 32, 1), ("16-16-32", 16, 16, 32, 1), ("16-32-32-s2", 16, 32, 32, 2),
      ("32-32-16", 32, 32, 16, 1), ("32-64-16-s2", 32, 64, 16, 2), ("64-64-8", 64, 64, 8, 1),
    ]
    var ratios: [Double] = []
    for (name, cin, cout, h, s) in layers {
      var rng = RandomGenerator(seed: 2)
      let g = ConvGeometry(stride: s, padding: 1)
      let x = Tensor.uniform([batch, cin, h, h], low: -1, high: 1, using: &rng)
      let w = Tensor.uniform([cout, cin, 3, 3], low: -1, high: 1, using: &rng)
      let yShape = g.outputShape(input: x.shape, weight: w.shape)
      let gy = Tensor.uniform(yShape, low: -1, high: 1, using: &rng)
      let flops = 2.0 * Double(cout * yShape[0] * yShape[2] * yShape[3] * 9 * cin)
      // Reference: the same products as single GEMMs, Y = W·col, dcol = Wᵀ·dY, dW = dY·colᵀ.
      let pixels = batch * yShape[2] * yShape[3], k = 9 * cin
      let directions: [(String, (Int, Int, Int), () -> Void)] = [
        ("fwd", (cout, pixels, k), { _ = Kernels.conv2d(x, weight: w, geometry: g) }),
        ("bwd-data", (k, pixels, cout), { _ = Kernels.conv2dBackwardData(gy, weight: w, inputShape: x.shape, geometry: g) }),
        ("bwd-weight", (cout, k, pixels), {
          _ = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: false)
        }),
      ]
      for (kind, (m, n, kk), body) in directions {
        let (ref, t) = interleavedMedianSeconds(repeats: options.repeats, reference: sgemmBody(m: m, n: n, k: kk), ours: body)
        ratios.append(ref / t)
        emit([("name", "conv-\(kind)-\(name)"), ("gflops", flops / t / 1e9), ("reference_gflops", flops / ref / 1e9),
              ("ratio", ref / t), ("ms", t * 1e3), ("batch", batch), ("threads", options.threads)])
      }
    }
    let geo = Glibc.exp(ratios.map { Glibc.log($0) }.reduce(0, +) / Double(ratios.count))
    emit([("name", "conv-geomean"), ("ratio", geo), ("min_ratio", ratios.min() ?? 0)])
  }

  /// The depthwise 3×3 and pointwise 1×1 convolutions of CIFARMobileNetV2 (forward, backward-data,
  /// backward-weight), against two limits measured in the same run: the time cblas_sgemm needs for
  /// the same FLOPs (at the rate of a 512×512×512 sgemm), and a memcpy moving the bytes the
  /// direction reads and writes (half read, half written). The row names the larger — the real
  /// limit — and its ratio is that time over ours.
  func mobileNetConvolutions() {
    // (name, Cin, Cout, H, stride, groups)
    let layers: [(String, Int, Int, Int, Int, Int)] = [
      ("dw32-32", 32, 32, 32, 1, 32), ("dw96-32-s2", 96, 96, 32, 2, 96), ("dw144-16", 144, 144, 16, 1, 144),
      ("dw144-16-s2", 144, 144, 16, 2, 144), ("dw192-8", 192, 192, 8, 1, 192), ("dw384-4", 384, 384, 4, 1, 384),
      ("pw16-96-32", 16, 96, 32, 1, 1), ("pw96-24-16", 96, 24, 16, 1, 1), ("pw24-144-16", 24, 144, 16, 1, 1),
      ("pw192-32-8", 192, 32, 8, 1, 1), ("pw64-384-4", 64, 384, 4, 1, 1), ("pw96-256-4", 96, 256, 4, 1, 1),
    ]
    let peak = 2.0 * 512 * 512 * 512 / sgemmSeconds(m: 512, n: 512, k: 512)  // FLOP/s
    var ratios: [Double] = []
    for (name, cin, cout, h, s, groups) in layers {
      var rng = RandomGenerator(seed: 2)
      let k = groups > 1 ? 3 : 1
      let g = ConvGeometry(stride: s, padding: k / 2, groups: groups)
      let x = Tensor.uniform([batch, cin, h, h], low: -1, high: 1, using: &rng)
      let w = Tensor.uniform([cout, cin / groups, k, k], low: -1, high: 1, using: &rng)
      let yShape = g.outputShape(input: x.shape, weight: w.shape)
      let gy = Tensor.uniform(yShape, low: -1, high: 1, using: &rng)
      let flops = 2.0 * Double(cout * batch * yShape[2] * yShape[3] * k * k * cin / groups)
      let bytes = (x.count + gy.count) * 4  // every direction reads or writes x and y once
      let src = [Float](repeating: 1, count: bytes / 8)
      var dst = [Float](repeating: 0, count: src.count)
      let directions: [(String, () -> Void)] = [
        ("fwd", { _ = Kernels.conv2d(x, weight: w, geometry: g) }),
        ("bwd-data", { _ = Kernels.conv2dBackwardData(gy, weight: w, inputShape: x.shape, geometry: g) }),
        ("bwd-weight", { _ = Kernels.conv2dBackwardWeights(gy, input: x, weightShape: w.shape, geometry: g, withBias: false) }),
      ]
      for (kind, body) in directions {
        let (copy, t) = interleavedMedianSeconds(repeats: options.repeats, reference: {
          src.withUnsafeBytes { s in _ = dst.withUnsafeMutableBytes { memcpy($0.baseAddress!, s.baseAddress!, s.count) } }
        }, ours: body)
        let compute = flops / peak
        let limit = max(compute, copy)
        ratios.append(limit / t)
        emit([("name", "conv-\(kind)-\(name)"), ("gflops", flops / t / 1e9), ("ms", t * 1e3), ("sgemm_time_ms", compute * 1e3),
              ("memcpy_ms", copy * 1e3), ("limit", compute >= copy ? "sgemm" : "memory"), ("ratio", limit / t),
              ("batch", batch), ("threads", options.threads)])
      }
    }
    let geo = Glibc.exp(ratios.map { Glibc.log($0) }.reduce(0, +) / Double(ratios.count))
    emit([("name", "mobilenet-conv-geomean"), ("ratio", geo), ("min_ratio", ratios.min() ?? 0), ("sgemm_peak_gflops", peak / 1e9)])
  }

  func elementwise() {
    let n = 16 << 20
    var rng = RandomGenerator(seed: 3)
    let x = Tensor.uniform([n], low: -4, high: 4, using: &rng), y = Tensor.uniform([n], low: -4, high: 4, using: &rng)
    var dst = [Float](repeating: 0, count: n)
    let copy = medianSeconds(repeats: options.repeats) {
      x.withUnsafeBufferPointer { src in _ = dst.withUnsafeMutableBytes { memcpy($0.baseAddress!, src.baseAddress!, n * 4) } }
    }
    let copyGBps = Double(n * 8) / copy / 1e9
    emit([("name", "memcpy"), ("gbps", copyGBps), ("ratio", 1.0), ("elements", n)])
    let grid = QuantGrid(scale: 0x1p-5, qmin: -128, qmax: 127, rounding: .halfToEven)
    let ops: [(String, Int, () -> Void)] = [
      ("add", 12, { _ = Kernels.binary(.add, x, y) }),
      ("relu", 8, { _ = Kernels.unary(.relu, x) }),
      ("fake-quant-math", 8, { _ = Kernels.fakeQuantize(x, grid) }),
    ]
    for (name, bytes, body) in ops {
      let t = medianSeconds(repeats: options.repeats, body)
      let gbps = Double(n * bytes) / t / 1e9
      emit([("name", name), ("gbps", gbps), ("ratio", gbps / copyGBps), ("elements", n), ("threads", options.threads)])
    }
  }
}
