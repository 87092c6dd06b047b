import DeployFormat
import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// Integer multiplier + shift requantization (`requantize` int16 / int32): the multiplier against
/// the exact scale, the kernel against a scalar reference, and per-channel int8 models of every
/// fixture graph exported and simulated at 0 LSB at every tensor.
@Suite struct RequantizeTests {
  /// m · 2^−n is the nearest `bits`-bit normalised multiplier to the scale (ties away from zero).
  @Test(arguments: [16, 32])
  func multiplierIsTheNearestToTheScale(_ bits: Int) throws {
    var rng = RandomGenerator(seed: 5)
    for i in 0..<2000 {
      let scale = Double.pow2(Double(rng.nextInt(below: 40)) - 30) * (0.5 + rng.nextDouble())  // 2^-31 ... 2^10
      let m = try IntegerMultiplier(approximating: scale, bits: bits)
      #expect(m.multiplier >= Int64(1) << (bits - 2) && m.multiplier < Int64(1) << (bits - 1), "\(i): \(scale) -> \(m)")
      let exact = scale * Double.pow2(Double(m.shift))  // exact: scaling by a power of two
      #expect(abs(Double(m.multiplier) - exact) <= 0.5, "\(i): \(scale) -> \(m)")
      #expect(abs(m.value - scale) <= Double.pow2(-Double(m.shift) - 1))
    }
    // exact for powers of two and for integers that fit
    #expect(try IntegerMultiplier(approximating: 0.25, bits: bits).value == 0.25)
    #expect(try IntegerMultiplier(approximating: 3, bits: bits).value == 3)
    for bad in [0, -1, Double.infinity, Double.nan, Double.pow2(40)] {
      #expect(throws: FixedPointError.self) { try IntegerMultiplier(approximating: bad, bits: bits) }
    }
  }

  /// The per-channel kernel equals a scalar reference for every activation and rounding rule.
  @Test(arguments: FusedActivation.allCases)
  func kernelMatchesScalarReference(_ activation: FusedActivation) throws {
    var rng = RandomGenerator(seed: 11)
    let (n, c, h, w, o) = (2, 3, 5, 5, 4)
    let x = IntTensor(shape: [n, c, h, w], codes: (0..<(n * c * h * w)).map { _ in Int16(rng.nextInt(below: 256) - 128) },
                      format: FixedPointFormat(bits: 8, fractionalBits: 0))
    let wt = IntTensor(shape: [o, c, 3, 3], codes: (0..<(o * c * 9)).map { _ in Int16(rng.nextInt(below: 255) - 127) },
                       format: FixedPointFormat(bits: 8, fractionalBits: 0))
    let bias = IntTensor(shape: [o], codes: (0..<o).map { _ in Int16(rng.nextInt(below: 60001) - 30000) },
                         format: FixedPointFormat(bits: 16, fractionalBits: 0))
    let g = ConvGeometry(stride: (1, 1), padding: (1, 1, 1, 1), dilation: (1, 1), groups: 1)
    for bits in [16, 32] {
      let rq = ChannelRequantization(
        multipliers: try (0..<o).map { _ in try IntegerMultiplier(approximating: 1e-4 * (0.5 + rng.nextDouble() * 40), bits: bits) },
        biasShifts: (0..<o).map { _ in rng.nextInt(below: 3) })
      for rule in RoundingRule.allCases {
        let out = FixedPointFormat(bits: 8, fractionalBits: 2)
        let y = IntegerKernels.conv2d(x, weight: wt, packed: nil, bias: bias, geometry: g, activation: activation, output: out,
                                      rounding: rule, requantization: rq)
        for b in 0..<n { for k in 0..<o { for i in 0..<h { for j in 0..<w {
          var acc: Int64 = 0
          for ci in 0..<c { for u in 0..<3 { for v in 0..<3 {
            let (yi, xj) = (i + u - 1, j + v - 1)
            guard (0..<h).contains(yi), (0..<w).contains(xj) else { continue }
            acc += Int64(x.codes[((b * c + ci) * h + yi) * w + xj]) * Int64(wt.codes[((k * c + ci) * 3 + u) * 3 + v])
          } } }
          var s = acc + (Int64(bias.codes[k]) << Int64(rq.biasShifts[k]))
          var shift = rq.multipliers[k].shift
          if activation == .leakyRelu { s = s < 0 ? s * 26 : s * 256; shift += 8 }
          var q = rule.shiftRight(s * rq.multipliers[k].multiplier, by: shift)  // |s · m| < 2^62 here
          if activation == .relu || activation == .relu6 { q = max(q, 0) }
          if activation == .relu6 { q = min(q, 6 << 2) }
          q = min(max(q, Int64(out.qmin)), Int64(out.qmax))
          let got = y.codes[((b * o + k) * h + i) * w + j]
          if Int64(got) != q {
            Issue.record("\(activation) \(rule) int\(bits): [\(b), \(k), \(i), \(j)] got \(got), expected \(q)")
            return
          }
        } } } }
      }
    }
  }

  static func perChannelConfig(_ mode: RequantizeMode) -> QuantizationConfig {
    var config = QuantizationConfig()
    config.perChannelWeights = true
    config.weightMethod = .minMax
    config.requantize = mode
    return config
  }

  /// Per-channel int8 weights with float scales on every fixture graph: the conv / linear layers
  /// export with multipliers of the chosen width, and the simulator equals the fake-quant model
  /// at every tensor.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip), arguments: Fixtures.names, [RequantizeMode.int16, .int32])
  func perChannelModelsAreBitExact(_ name: String, _ mode: RequantizeMode) throws {
    let (qm, simulator, reference, _) = try FixturePipelineTests.deploy(name, Self.perChannelConfig(mode), tag: "\(name)-rq-\(mode.rawValue)")
    let multiplierNodes = simulator.graph.nodes.filter(\.requantizesByMultiplier)
    let weightNodes = simulator.graph.nodes.filter { $0.op == .conv2d || $0.op == .linear }
    #expect(multiplierNodes.count == weightNodes.count, "\(name): \(multiplierNodes.count) of \(weightNodes.count) conv / linear nodes use multipliers")
    let top = Int64(1) << (mode.multiplierBits! - 1)
    #expect(multiplierNodes.allSatisfy { $0.multiplierBits == mode.multiplierBits && $0.multipliers!.allSatisfy { $0 >= top / 2 && $0 < top } })
    let report = try BitExactCheck.compare(qm, simulator, batch: FixturePipelineTests.batch(reference, seed: 99))
    #expect(report.inexactLayers.isEmpty, "\(name): \(report.inexactLayers)")
    #expect(report.tensorsCompared == simulator.graph.nodes.count, "\(name): \(report.tensorsCompared) of \(simulator.graph.nodes.count) compared")
    #expect(report.mismatchedTensors.isEmpty, "\(name): \(report.mismatchedTensors.count) tensors differ, first \(report.firstMismatch ?? "-"), max \(report.maxLSBDifference) LSB")
  }

  /// The fake-quant model's two exact paths for multiplier layers: a float op on the integer codes
  /// while every sum stays below 2^24 (the narrow conv), the integer kernel beyond (a linear layer
  /// of 4,096 inputs at 8 bits can reach 127 · 4096 · 128 > 2^24); both equal the simulator.
  @Test(arguments: [RequantizeMode.int16, .int32])
  func wideSumsTakeTheIntegerKernel(_ mode: RequantizeMode) throws {
    var b = ModelBuilder(seed: 9)
    let x = b.input(shape: [4, 32, 32])
    var h = b.conv2d("conv", x, 4, 4, kernel: 3, padding: 1)
    h = b.add("relu", ReLU(), h)
    h = b.add("flatten", Flatten(), h)
    let out = b.linear("fc", h, 4096, 6)
    let model = b.build(output: out)
    model.setPhase(.inference)
    let qm = try Prepare.quantize(model, config: Self.perChannelConfig(mode))
    let batches = (0..<2).map { randomTensor([4, 4, 32, 32], seed: 60 + UInt64($0), low: -2, high: 2) }
    try Calibration.calibrate(qm) { body in for t in batches { try body(t) } }
    let layers = Dictionary(uniqueKeysWithValues: qm.weightLayers.map { ($0.0, $0.1) })
    let input = { (name: String) in max(abs(layers[name]!.inputQuantizer!.fixedPointFormat!.qmin), layers[name]!.inputQuantizer!.fixedPointFormat!.qmax) }
    #expect(try layers["conv"]!.integerForm().sumsExactInFloat(inputCodes: input("conv")))
    #expect(try !layers["fc"]!.integerForm().sumsExactInFloat(inputCodes: input("fc")))
    let dir = TestData.temporaryDirectory("rq-wide")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Exporter.export(qm, to: dir)
    let simulator = try Simulator(directory: dir)
    let report = try BitExactCheck.compare(qm, simulator, batch: randomTensor([3, 4, 32, 32], seed: 70, low: -2, high: 2))
    #expect(report.inexactLayers.isEmpty, "\(report.inexactLayers)")
    #expect(report.mismatchedTensors.isEmpty, "\(report.mismatchedTensors.count) tensors differ, max \(report.maxLSBDifference) LSB")
  }

  /// Float weight scales with a shift-only target: export names the tensor and the option.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func floatScalesNeedMultipliers() throws {
    let entry = try Fixtures.manifest().first { $0.name == "mobilenet_v2" }!
    let model = try ONNXImporter.load(path: Fixtures.directory + "/mobilenet_v2.onnx").model
    let qm = try Prepare.quantize(model, config: Self.perChannelConfig(.powerOfTwo))
    try Calibration.calibrate(qm) { body in try body(FixturePipelineTests.batch(entry, seed: 1)) }
    let error = #expect(throws: DeployError.self) { try Exporter.export(qm, to: TestData.temporaryDirectory("rq-refused")) }
    #expect("\(error!)".contains(".weight") && "\(error!)".contains("--requantize int16 or int32"), "\(error!)")
  }

  /// Float activation scales with multipliers are refused at configuration time.
  @Test func multipliersNeedPowerOfTwoActivations() throws {
    var config = Self.perChannelConfig(.int16)
    config.activationScheme = .symmetric
    #expect(throws: QuantizationError.self) { try config.validate() }
  }

  /// A deploy graph with a bad multiplier is refused by the reader, naming the node.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func deployReaderChecksMultipliers() throws {
    let (_, simulator, _, _) = try FixturePipelineTests.deploy("mobilenet_v2", Self.perChannelConfig(.int16), tag: "rq-bad")
    for corrupt in [{ (n: inout DeployNode) in n.multipliers![0] = 0 }, { $0.multipliers![0] = 1 << 15 },
                    { $0.multiplierShifts![0] = -1 }, { $0.multiplierBits = 8 }, { $0.weightFractionalBits = 3 },
                    { $0.multiplierShifts!.removeLast() }] {
      var graph = simulator.graph
      let i = graph.nodes.firstIndex(where: \.requantizesByMultiplier)!
      corrupt(&graph.nodes[i])
      let error = #expect(throws: DeployError.self) { try graph.validate() }
      #expect("\(error!)".contains(graph.nodes[i].name), "\(error!)")
    }
  }
}

extension Double {
  fileprivate static func pow2(_ e: Double) -> Double { Foundation.pow(2, e) }
}

/// Per-channel models as QDQ: weights dequantized per output channel (axis 0) at the deploy
/// graph's weight scales, biases int32 at input scale · weight scale, and ONNX Runtime on them.
@Suite struct PerChannelQDQTests {
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func weightsAndBiasesCarryPerChannelScales() throws {
    let (_, simulator, _, dir) = try FixturePipelineTests.deploy("mobilenet_v2", RequantizeTests.perChannelConfig(.int32), tag: "pcqdq")
    let graph = simulator.graph, payload = try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile)
    let proto = try Onnx_ModelProto(serializedBytes: try QDQWriter.bytes(graph, payload).0)
    let inits = Dictionary(uniqueKeysWithValues: proto.graph.initializer.map { ($0.name, $0) })
    func floats(_ name: String) -> [Float] {
      guard let t = inits[name] else { return [] }
      return t.rawData.withUnsafeBytes { p in (0..<(t.rawData.count / 4)).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }
    let nodes = graph.nodes.filter(\.requantizesByMultiplier)
    #expect(!nodes.isEmpty)
    for n in nodes {
      let dq = proto.graph.node.first { $0.opType == "DequantizeLinear" && $0.name == "\(n.name).weight/dq" }
      #expect(dq?.attribute.first { $0.name == "axis" }?.i == 0, "\(n.name): weight axis")
      #expect(floats("\(n.name).weight/scale") == n.weightScales!, "\(n.name): weight scales")
      #expect(inits["\(n.name).weight/codes"]?.int32Data == payload[n.weight!]!.values)
      guard n.bias != nil else { continue }
      let fx = graph.tensors[n.inputs[0]]!.fractionalBits
      let accumulator = n.weightScales!.map { Float(Double($0) * Double(sign: .plus, exponent: -fx, significand: 1)) }
      #expect(floats("\(n.name).bias/scale") == accumulator, "\(n.name): bias scale")
      let shifted = zip(payload[n.bias!]!.values, n.biasShifts!).map { $0 << $1 }
      #expect(inits["\(n.name).bias/codes"]?.int32Data == shifted, "\(n.name): bias codes")
    }
  }

  /// Standard QDQ (`native`): ONNX Runtime requantizes with float scales where the simulator uses
  /// the integer multiplier, so a code can differ where a value falls within the multiplier's
  /// error of a rounding tie (ResNet-20 on CIFAR-10 hits some: BENCHMARKS.md); with 31-bit
  /// multipliers and half-to-even rounding everywhere (ONNX Runtime's own) no fixture tensor does,
  /// at the pinned onnxruntime. The `exact` form writes the integer arithmetic out (float sums of
  /// integer weights, the multiplier in double, the rounding rule) and must agree at every tensor
  /// with 16- and 32-bit multipliers and the DPU's half-up rounding.
  static let runtimeCases: [(RequantizeMode, RoundingRule, QDQWriter.Rounding)] =
    [(.int32, .halfToEven, .native), (.int16, .halfUp, .exact), (.int32, .halfUp, .exact), (.int16, .halfToEven, .exact)]

  @Test(.enabled(if: Fixtures.present && ONNXWriterRuntimeTests.python != nil, ONNXWriterRuntimeTests.skip),
        arguments: Fixtures.names, PerChannelQDQTests.runtimeCases.indices)
  func onnxRuntimeOnPerChannelModels(_ name: String, _ index: Int) throws {
    let (mode, rounding, form) = Self.runtimeCases[index]
    var config = RequantizeTests.perChannelConfig(mode)
    config.activationRounding = rounding
    let (_, simulator, reference, dir) = try FixturePipelineTests.deploy(name, config, tag: "pcqdq-ort-\(name)-\(index)")
    let label = "per-channel QDQ \(name) \(mode.rawValue) \(rounding.rawValue) \(form.rawValue)"
    let worst = try Self.compareEveryTensor(simulator, dir, FixturePipelineTests.batch(reference, seed: 123), form, label)
    #expect(worst == 0, "\(label): up to \(worst) LSB")
  }

  /// A depthwise conv with the DPU's leaky ReLU fused (26/256 on the multiplier path), a 1×1 conv
  /// with ReLU6 and a linear head, per-channel int16 multipliers: the exact form in ONNX Runtime.
  @Test(.enabled(if: ONNXWriterRuntimeTests.python != nil, ONNXWriterRuntimeTests.skip))
  func exactFormWritesTheFusedLeakyRelu() throws {
    var b = ModelBuilder(seed: 5)
    let x = b.input(shape: [3, 10, 10])
    var h = b.conv2d("conv", x, 3, 8, kernel: 3, padding: 1)
    h = b.conv2d("dw", h, 8, 8, kernel: 3, padding: 1, groups: 8)
    h = b.add("leaky", LeakyReLU(negativeSlope: 0.1), h)
    h = b.conv2d("pw", h, 8, 6, kernel: 1)
    h = b.add("relu6", ReLU6(), h)
    h = b.add("gap", GlobalAvgPool(), h)
    h = b.add("flatten", Flatten(), h)
    let out = b.linear("fc", h, 6, 4)
    let model = b.build(output: out)
    model.setPhase(.inference)
    let qm = try Prepare.quantize(model, config: RequantizeTests.perChannelConfig(.int16))
    let batches = (0..<2).map { randomTensor([8, 3, 10, 10], seed: 40 + UInt64($0), low: -2, high: 2) }
    try Calibration.calibrate(qm) { body in for t in batches { try body(t) } }
    let dir = TestData.temporaryDirectory("pcqdq-leaky")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Exporter.export(qm, to: dir)
    let simulator = try Simulator(directory: dir)
    #expect(simulator.graph.nodes.contains { $0.requantizesByMultiplier && $0.activation == .leakyRelu }, "no multiplier node with the leaky ReLU fused")
    let worst = try Self.compareEveryTensor(simulator, dir, randomTensor([4, 3, 10, 10], seed: 77, low: -2, high: 2), .exact, "leaky int16 exact")
    #expect(worst == 0, "leaky int16 exact: up to \(worst) LSB")
  }

  /// Writes the deploy graph in `dir` as QDQ with every tensor exposed, runs it in ONNX Runtime on
  /// `x` and returns the largest difference in LSB from the simulator over every tensor (printing
  /// how many differ); -1 when ONNX Runtime did not run.
  static func compareEveryTensor(_ simulator: Simulator, _ dir: String, _ x: Tensor, _ form: QDQWriter.Rounding, _ label: String) throws -> Int {
    let graph = simulator.graph, payload = try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile)
    var options = QDQWriter.Options()
    (options.rounding, options.exposeEveryTensor) = (form, true)
    let out = TestData.temporaryDirectory("pcqdq-ort")
    defer { try? FileManager.default.removeItem(atPath: out) }
    try QDQWriter.write(graph, payload, to: out + "/model.onnx", options: options)
    guard let theirs = try ONNXWriterRuntimeTests.run(out + "/model.onnx", x, label) else { return -1 }
    let ours = try simulator.run([x], keepAll: true)
    var worst = 0, differing = 0, values = 0, total = 0
    for (tensor, t) in zip(graph.nodes.map(\.output), theirs) {
      let codes = ours[tensor]!, scale = Double(sign: .plus, exponent: graph.tensors[tensor]!.fractionalBits, significand: 1)
      guard t.values.count == codes.codes.count else { Issue.record("\(label) \(tensor): \(t.values.count) values vs \(codes.codes.count)"); continue }
      let d = zip(t.values, codes.codes).map { abs(Int((Double($0) * scale).rounded()) - Int($1)) }
      worst = max(worst, d.max() ?? 0)
      differing += d.contains { $0 > 0 } ? 1 : 0
      values += d.filter { $0 > 0 }.count
      total += d.count
    }
    print("\(label): \(differing) of \(graph.nodes.count) tensors differ, \(values) of \(total) values, max \(worst) LSB")
    return worst
  }
}
