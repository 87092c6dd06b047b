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

/// Networks covering every lowering: conv+BN+ReLU, conv+BN, add+ReLU, max pool, concat,
/// LeakyReLU, ReLU6, DPU average pooling (3x3: 7/64), upsampling, slice, pad, global pool, linear.
func exportNet(seed: UInt64, leaky: Bool = true) -> Model {
  var b = ModelBuilder(seed: seed)
  let x = b.input(shape: [3, 12, 12])
  var h = b.conv2d("conv1", x, 3, 8, kernel: 3, padding: 1, bias: false)
  h = b.add("bn1", BatchNorm2D(8), h)
  h = b.add("relu1", ReLU(), h)
  var y = b.conv2d("conv2", h, 8, 8, kernel: 3, padding: 1, bias: false)
  y = b.add("bn2", BatchNorm2D(8), y)
  let s = b.add("add", Add(), [y, h])
  let r = b.add("relu2", ReLU(), s)
  let p = b.add("pool", MaxPool2D(kernel: 2), r)
  var d = b.conv2d("dw", p, 8, 8, kernel: 3, padding: 1, groups: 8)
  d = leaky ? b.add("leaky", LeakyReLU(negativeSlope: 0.1), d) : b.add("relu6", ReLU6(), d)
  let a = b.add("avg", AvgPool2D(kernel: 3, stride: 1, padding: 1), d)
  let cat = b.add("cat", Concat(), [p, a])
  var u = b.add("up", Upsample(scale: 2), cat)
  u = b.add("sub", Slice([.all, .all, SliceRange(0, Int.max, step: 2), SliceRange(0, Int.max, step: 2)]), u)
  u = b.add("padc", Pad(before: [0, 2, 0, 0], after: [0, 2, 0, 0]), u)
  let c3 = b.conv2d("conv3", u, 20, 6, kernel: 1, stride: 2)
  let r6 = b.add("relu6b", ReLU6(), c3)
  var g = b.add("gap", GlobalAvgPool(), r6)
  g = b.add("flatten", Flatten(), g)
  let out = b.linear("fc", g, 6, 5)
  let m = b.build(output: out)
  var rng = RandomGenerator(seed: seed + 7)
  for n in m.nodes {
    if let bn = n.layer as? BatchNorm2D {
      bn.runningMean.value = Tensor.normal([bn.channels], std: 0.2, using: &rng)
      bn.runningVar.value = Tensor.uniform([bn.channels], low: 0.5, high: 2, using: &rng)
      bn.weight.value = Tensor.uniform([bn.channels], low: 0.5, high: 1.5, using: &rng)
    }
  }
  m.setPhase(.inference)
  return m
}

func exportBatches(seed: UInt64, count: Int = 3) -> [Tensor] {
  (0..<count).map { randomTensor([8, 3, 12, 12], seed: seed + UInt64($0), low: -2.5, high: 2.5) }
}

func calibratedNet(_ config: QuantizationConfig, seed: UInt64 = 1, leaky: Bool = true) throws -> QuantizedModel {
  let qm = try Prepare.quantize(exportNet(seed: seed, leaky: leaky), config: config)
  let batches = exportBatches(seed: 100)
  try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
  return qm
}

@Suite struct BitExactTests {
  func exportAndCompare(_ qm: QuantizedModel, sourceLocation: SourceLocation = #_sourceLocation) throws -> (BitExactReport, Exporter.Report) {
    let dir = TestData.temporaryDirectory("qat-export")
    let report = try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    var total = BitExactReport()
    for batch in exportBatches(seed: 500, count: 2) { total.merge(try BitExactCheck.compare(qm, sim, batch: batch)) }
    #expect(total.tensorsCompared == 2 * sim.graph.nodes.count, sourceLocation: sourceLocation)
    #expect(total.mismatchedTensors.isEmpty, "first mismatch \(total.firstMismatch ?? "-"), \(total.mismatchedValues) values, max \(total.maxLSBDifference) LSB", sourceLocation: sourceLocation)
    return (total, report)
  }

  @Test func w8a8PowerOfTwoIsBitExactAtEveryTensor() throws {
    _ = try exportAndCompare(try calibratedNet(QuantizationConfig()))
  }

  /// Unsigned formats after ReLU (TIDL style): one more level, still 0 LSB at every tensor.
  @Test(arguments: [(8, true), (4, false)]) func unsignedActivationsAreBitExact(bits: Int, leaky: Bool) throws {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit, c.unsignedActivations) = (bits, bits, true)
    let qm = try calibratedNet(c, leaky: leaky)
    let unsigned = Set(qm.activationQuantizers.filter { !$0.spec.signed }.map(\.label))
    #expect(unsigned.isSuperset(of: ["relu1", "relu2"]) && !unsigned.contains("add") && !unsigned.contains("input"))
    #expect(unsigned.contains("relu6") == !leaky && !unsigned.contains("leaky"))
    if let q = qm.quantizer(labelled: "relu1") { #expect(q.spec.qmax == (1 << bits) - 1 && q.spec.qmin == 0) }
    _ = try exportAndCompare(qm)
  }

  @Test func w4a4IsBitExact() throws {
    var c = QuantizationConfig()
    c.weightBit = 4
    c.activationBit = 4
    _ = try exportAndCompare(try calibratedNet(c, seed: 2, leaky: false))
  }

  /// residual_bit: the conv output that only the residual add reads gets its own width; every
  /// conv input keeps the activation width; still 0 LSB at every tensor.
  @Test func residualBranchWidthIsBitExact() throws {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit, c.unsignedActivations, c.residualBit) = (4, 4, true, 8)
    let qm = try calibratedNet(c, seed: 2, leaky: false)
    let widths = Dictionary(uniqueKeysWithValues: qm.activationQuantizers.map { ($0.label, $0.spec.bits) })
    #expect(widths["conv2"] == 8)
    #expect(widths.filter { $0.key != "conv2" }.values.allSatisfy { $0 == 4 }, "\(widths)")
    #expect(qm.weightLayers.allSatisfy { $0.layer.weightQuantizer.spec.bits == 4 })
    let decoded = try JSONDecoder().decode(QuantizationConfig.self, from: try JSONEncoder().encode(c))
    #expect(decoded == c && decoded.residualBit == 8)
    _ = try exportAndCompare(qm)
  }

  @Test func sixteenBitFormatsAreBitExact() throws {
    var c = QuantizationConfig()
    c.weightBit = 16
    c.activationBit = 16
    c.method = .nonOverflow
    _ = try exportAndCompare(try calibratedNet(c, seed: 3))
  }

  @Test func everyMethodExportsExactly() throws {
    for method: CalibrationMethod in [.nonOverflow, .minMax, .percentile(bins: 256, threshold: 0.999), .entropy(bins: 512), .mse(bins: 256)] {
      var c = QuantizationConfig()
      c.method = method
      _ = try exportAndCompare(try calibratedNet(c, seed: 4))
    }
  }

  @Test func shiftConstraintsAreEnforcedAndListed() throws {
    let qm = try calibratedNet(QuantizationConfig(), seed: 5)
    // force shift_cut > 16 on conv2: make its weights 16 positions finer than the output allows
    let layer = qm.weightLayers.first { $0.name == "conv2" }!.layer
    var fw = layer.weightQuantizer.fixedPointFormat!
    fw.fractionalBits += 12
    layer.weightQuantizer.setFormat(.fixedPoint(fw))
    let (_, report) = try exportAndCompare(qm)
    #expect(report.adjustments.contains { $0.node == "conv2" && $0.tensor == "weight" })
    for (_, l) in qm.weightLayers {
      let s = ShiftConstraints.shifts(l)!
      #expect((0...16).contains(s.cut))
      if let sb = s.bias { #expect(sb >= min(0, s.cut - 16) && sb <= 16) }
    }
  }

  /// An op the deploy format cannot express is named before calibration and at export.
  @Test func unsupportedOpsAreNamedAtExport() throws {
    var b = ModelBuilder(seed: 1)
    var x = b.input(shape: [2, 4, 4])
    x = b.conv2d("conv", x, 2, 2, kernel: 1)
    x = b.add("flat", Flatten(), x)
    x = b.add("probabilities", Softmax(axis: 1), x)
    x = b.linear("fc", x, 32, 3)
    let m = b.build(output: x)
    let qm = try Prepare.quantize(m, config: QuantizationConfig())
    #expect(Exporter.unsupportedNodes(qm).map(\.node) == ["probabilities"])
    try Calibration.calibrate(qm) { body in try body(randomTensor([2, 2, 4, 4], seed: 3)) }
    do {
      try Exporter.export(qm, to: TestData.temporaryDirectory())
      Issue.record("export of a softmax succeeded")
    } catch let e as DeployError {
      #expect(e.description.contains("probabilities") && e.description.contains("Softmax"))
    }
  }

  /// Transposed convolutions (strided, padded, output padding, grouped, dilated) export as the DPU's
  /// conv_transpose and simulate bit-exactly.
  @Test(arguments: [(2, 1, 1, 1, 1), (2, 0, 0, 2, 1), (3, 2, 2, 1, 2)])
  func transposedConvolutionsAreBitExact(stride: Int, padding: Int, outputPadding: Int, groups: Int, dilation: Int) throws {
    var b = ModelBuilder(seed: 4)
    var x = b.input(shape: [2, 5, 5])
    x = b.conv2d("conv", x, 2, 4, kernel: 1)
    var rng = RandomGenerator(seed: 8)
    let up = ConvTranspose2D(weight: Tensor.normal([4, 6 / groups, 3, 3], std: 0.3, using: &rng), bias: Tensor.normal([6], std: 0.1, using: &rng),
                             geometry: ConvGeometry(stride: (stride, stride), padding: (padding, padding, padding, padding),
                                                    dilation: (dilation, dilation), groups: groups),
                             outputPadding: (outputPadding, outputPadding))
    x = b.add("up", up, x)
    x = b.add("relu", ReLU(), x)
    let qm = try Prepare.quantize(b.build(output: x), config: QuantizationConfig())
    let batch = randomTensor([3, 2, 5, 5], seed: 5, low: -2, high: 2)
    try Calibration.calibrate(qm) { body in try body(batch) }
    let dir = TestData.temporaryDirectory("convtranspose")
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    #expect(sim.graph.nodes.map(\.op) == [.input, .conv2d, .convTranspose])
    let report = try BitExactCheck.compare(qm, sim, batch: batch)
    #expect(report.tensorsCompared == 3 && report.mismatchedTensors.isEmpty, "\(report.firstMismatch ?? "-")")
  }

  /// A sigmoid on a quantized tensor exports as a table of its output codes, bit-exact.
  @Test func pointwiseFunctionsExportAsTables() throws {
    var b = ModelBuilder(seed: 1)
    var x = b.input(shape: [2, 4, 4])
    x = b.conv2d("conv", x, 2, 3, kernel: 1)
    x = b.add("squash", Sigmoid(), x)
    x = b.add("slope", PReLU(slope: Tensor([0.1, 0.2, 0.3], shape: [3, 1, 1])), x)
    let qm = try Prepare.quantize(b.build(output: x), config: QuantizationConfig())
    let batch = randomTensor([2, 2, 4, 4], seed: 3, low: -3, high: 3)
    try Calibration.calibrate(qm) { body in try body(batch) }
    let dir = TestData.temporaryDirectory()
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    #expect(sim.graph.nodes.map(\.op) == [.input, .conv2d, .lookup, .lookup])
    let payload = try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile)
    #expect(payload["squash.table"]?.shape == [1, 256] && payload["slope.table"]?.shape == [3, 256])  // one table; one per channel
    let report = try BitExactCheck.compare(qm, sim, batch: batch)
    #expect(report.tensorsCompared == 4 && report.mismatchedTensors.isEmpty)
  }

  @Test func perChannelAffineWeightsAreRejectedByTheDPUExport() throws {
    var c = QuantizationConfig()
    c.perChannelWeights = true
    let qm = try calibratedNet(c, seed: 6)
    #expect(throws: DeployError.self) { try Exporter.export(qm, to: TestData.temporaryDirectory()) }
  }
}
