import Autograd
import Foundation
import HDF5IO
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

/// A small residual CNN with every pattern prepare handles: conv+BN+ReLU, conv+BN, add+ReLU,
/// max pool, concat, global average pool, linear.
func smallNet(seed: UInt64) -> Model {
  var b = ModelBuilder(seed: seed)
  let x = b.input(shape: [3, 8, 8])
  var h = b.conv2d("conv1", x, 3, 8, kernel: 3, padding: 1, bias: false)
  h = b.add("bn1", BatchNorm2D(8), h)
  h = b.add("relu1", ReLU(), h)
  var y = b.conv2d("conv2", h, 8, 8, kernel: 3, padding: 1, bias: false)
  y = b.add("bn2", BatchNorm2D(8), y)
  let s = b.add("add", Add(), [y, h])
  let r = b.add("relu2", ReLU(), s)
  let p = b.add("pool", MaxPool2D(kernel: 2), r)
  let c = b.conv2d("conv3", p, 8, 4, kernel: 1)
  let cat = b.add("cat", Concat(), [p, c])
  var g = b.add("gap", GlobalAvgPool(), cat)
  g = b.add("flatten", Flatten(), g)
  let out = b.linear("fc", g, 12, 5)
  let m = b.build(output: out)
  // non-trivial batch-norm statistics
  var rng = RandomGenerator(seed: seed + 1)
  for n in m.nodes { if let bn = n.layer as? BatchNorm2D {
    bn.runningMean.value = Tensor.normal([bn.channels], std: 0.2, using: &rng)
    bn.runningVar.value = Tensor.uniform([bn.channels], low: 0.5, high: 2, using: &rng)
    bn.weight.value = Tensor.uniform([bn.channels], low: 0.5, high: 1.5, using: &rng)
    bn.bias.value = Tensor.normal([bn.channels], std: 0.1, using: &rng)
  } }
  m.setPhase(.inference)
  return m
}

func calibrationBatches(seed: UInt64) -> [Tensor] {
  (0..<4).map { randomTensor([16, 3, 8, 8], seed: seed + UInt64($0), low: -2, high: 2) }
}

@Suite struct PrepareTests {
  @Test func placesQuantizersOnFusedPatterns() throws {
    let qm = try Prepare.quantize(smallNet(seed: 1), config: QuantizationConfig())
    let labels = qm.activationQuantizers.map(\.label)
    #expect(labels == ["input", "relu1", "conv2", "relu2", "conv3", "cat", "gap", "fc"])
    #expect(qm.weightLayers.map(\.name) == ["conv1", "conv2", "conv3", "fc"])
    #expect(!qm.model.nodes.contains { $0.layer is BatchNorm2D })  // folded
    #expect(qm.alignmentGroups.map { $0.map(\.label) } == [["relu2", "conv3", "cat"]])  // concat inputs and output (max pool keeps relu2's grid)
    #expect(qm.positionTies.map(\.output.label) == ["gap"])
    #expect(qm.quantizers.count == 8 + 4 + 4)
  }

  @Test func bypassModeEqualsTheFloatModelExactly() throws {
    let x = randomTensor([4, 3, 8, 8], seed: 9)
    let float = smallNet(seed: 2)
    let expected = float(x).scalars
    var config = QuantizationConfig()
    config.batchNorm = .keep
    let qm = try Prepare.quantize(smallNet(seed: 2), config: config)
    #expect(qm.model(x).scalars == expected)
  }

  @Test func batchNormFoldingKeepsOutputs() throws {
    let x = randomTensor([4, 3, 8, 8], seed: 9)
    let m = smallNet(seed: 3)
    let before = m(x)
    let folded = BatchNormFolding.foldAll(in: m)
    #expect(folded == ["bn1", "bn2"])
    #expect(maxAbsDifference(m(x), before) < 1e-5)
  }

  @Test func calibrationIsReproducibleAndTheJSONReloadsExactly() throws {
    let dir = TestData.temporaryDirectory()
    let batches = calibrationBatches(seed: 20)
    func run(threads: Int) throws -> (QuantizedModel, Data) {
      Threading.configure(threads: threads)
      let qm = try Prepare.quantize(smallNet(seed: 4), config: QuantizationConfig())
      try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
      let state = try QuantizationState(qm, architecture: "small")
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      return (qm, try encoder.encode(state))
    }
    let (qm, json1) = try run(threads: 2)
    let (_, json2) = try run(threads: 1)
    Threading.configure(threads: 2)
    #expect(json1 == json2)
    let x = randomTensor([4, 3, 8, 8], seed: 30)
    let y = qm.model(x).scalars
    try qm.save(to: dir, architecture: "small")
    let loaded = try QuantizedModel.load(from: dir) { name in
      #expect(name == "small")
      return smallNet(seed: 99)  // weights come from the file
    }
    #expect(loaded.model(x).scalars == y)
    #expect(try QuantizationState.read(from: dir + "/quantization.json") == QuantizationState(qm, architecture: "small"))
    // aligned concat inputs share one position, the pool output its input's
    #expect(qm.quantizer(labelled: "relu2")?.fixedPointFormat?.fractionalBits == qm.quantizer(labelled: "conv3")?.fixedPointFormat?.fractionalBits)
    #expect(qm.quantizer(labelled: "gap")?.fixedPointFormat?.fractionalBits == qm.quantizer(labelled: "cat")?.fixedPointFormat?.fractionalBits)
  }

  @Test func outputsAreOnTheGridOfTheirFormats() throws {
    let qm = try Prepare.quantize(smallNet(seed: 5), config: QuantizationConfig())
    let batches = calibrationBatches(seed: 40)
    try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    var offGrid: [String] = []
    _ = qm.model.forward([batches[0]]) { i, t in
      guard let q = qm.model.nodes[i].layer as? FixNeuron, let f = q.fixedPointFormat else { return }
      let scaled = t.scalars.map { Double($0) / f.scale }
      if scaled.contains(where: { $0 != $0.rounded() || $0 < Double(f.qmin) || $0 > Double(f.qmax) }) { offGrid.append(q.label) }
    }
    #expect(offGrid.isEmpty, "\(offGrid)")
  }

  @Test func fixedPositionPutsEveryTensorInQ8Dot8() throws {
    var c = QuantizationConfig()
    try c.apply(bitwidths: "16,16")
    c.fixedFractionalBits = 8
    let qm = try Prepare.quantize(smallNet(seed: 7), config: c)
    let batches = calibrationBatches(seed: 50)
    try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    try ShiftConstraints.enforce(qm)
    let formats = qm.quantizers.map { ($0.label, $0.fixedPointFormat) }
    #expect(formats.allSatisfy { $0.1?.bits == 16 && $0.1?.fractionalBits == 8 }, "\(formats)")
    // the calibrated run picks other positions for the same tensors
    var free = QuantizationConfig()
    try free.apply(bitwidths: "16,16")
    let calibrated = try Prepare.quantize(smallNet(seed: 7), config: free)
    try Calibration.calibrate(calibrated) { body in for b in batches { try body(b) } }
    #expect(calibrated.quantizers.contains { $0.fixedPointFormat?.fractionalBits != 8 })
    // and the setting survives the JSON round trip
    let data = try JSONEncoder().encode(c)
    #expect(try JSONDecoder().decode(QuantizationConfig.self, from: data).fixedFractionalBits == 8)
  }

  @Test func optionsUnderVaiQNames() throws {
    var c = QuantizationConfig()
    try c.apply(bitwidths: "8,4")
    #expect(c.activationBit == 8 && c.weightBit == 4)
    #expect(throws: QuantizationError.self) { try c.apply(bitwidths: "8,8,16") }
    #expect(throws: QuantizationError.self) { try c.apply(bitwidths: "8") }
    let pairs = try QuantizationConfig.parsePairs("conv1:16, relu1:4", option: "nodes_bit")
    #expect(pairs.map(\.0) == ["conv1", "relu1"] && pairs.map(\.1) == ["16", "4"])
    c.nodesBit = ["conv1": 16, "relu2": 4]
    c.ignoreNodes = ["fc"]
    let qm = try Prepare.quantize(smallNet(seed: 6), config: c)
    #expect(qm.quantizer(labelled: "conv1.weight")?.spec.bits == 16)
    #expect(qm.quantizer(labelled: "relu2")?.spec.bits == 4)
    #expect(qm.quantizer(labelled: "fc.weight") == nil && qm.quantizer(labelled: "fc") == nil)
    var bad = QuantizationConfig()
    bad.nodesBit = ["nope": 8]
    #expect(throws: QuantizationError.self) { try Prepare.quantize(smallNet(seed: 6), config: bad) }
    // histogram methods calibrate activations; weights then use min-diffs unless weight_method says otherwise
    var entropy = QuantizationConfig()
    entropy.method = .entropy(bins: 2048)
    let eq = try Prepare.quantize(smallNet(seed: 6), config: entropy)
    #expect(eq.quantizer(labelled: "conv2.weight")?.spec.method == .minDiffs)
    #expect(eq.quantizer(labelled: "relu1")?.spec.method == .entropy(bins: 2048))
    entropy.weightMethod = .entropy(bins: 2048)
    #expect(try Prepare.quantize(smallNet(seed: 6), config: entropy).quantizer(labelled: "conv2.weight")?.spec.method == .entropy(bins: 2048))
    var arch = QuantizationConfig()
    arch.archType = .dpucadf8h
    #expect(try Prepare.quantize(smallNet(seed: 6), config: arch).quantizer(labelled: "relu1")?.spec.qmin == -127)
  }
}
