import Autograd
import Foundation
import Layers
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// A layer without an ONNX form (the writer must name it).
private final class Cube: Layer {
  func forward(_ inputs: [Tensor]) -> Tensor { let x = single(inputs, "Cube"); return x * x * x }
}

/// The float ONNX writer: import ∘ export ∘ import reproduces outputs within 1e-6 of their scale and
/// keeps node and initializer names, for every fixture graph, the built-in architectures and a
/// graph of every writable layer; ONNX Runtime runs what it writes.
@Suite struct ONNXWriterTests {
  /// Writes, re-imports and compares: node names, parameter / buffer names and the outputs on x.
  @discardableResult
  static func roundTrip(_ model: Model, _ x: Tensor, options: ONNXWriter.Options = ONNXWriter.Options(), names: Bool = true,
                        _ label: String) throws -> (ONNXImporter.Result, Data) {
    let data = try ONNXWriter.bytes(model, options: options)
    let back = try ONNXImporter.load(try ONNXFile(bytes: data, path: "\(label).onnx"))
    if names {
      #expect(back.model.nodes.map(\.name) == model.nodes.map(\.name), "\(label): node names")
      #expect(back.model.namedParameters.map(\.name) == model.namedParameters.map(\.name), "\(label): parameter names")
      #expect(back.model.namedBuffers.map(\.name) == model.namedBuffers.map(\.name), "\(label): buffer names")
    }
    model.setPhase(.inference)
    back.model.setPhase(.inference)
    let a = model.withoutGradients { model.forward([x]) }, b = back.model.withoutGradients { back.model.forward([x]) }
    #expect(a.count == b.count)
    for (k, (y, z)) in zip(a, b).enumerated() {
      #expect(y.shape == z.shape, "\(label) output \(k): \(y.shape) vs \(z.shape)")
      guard y.shape == z.shape else { continue }
      let scale = max(1, y.scalars.map(abs).max() ?? 0)
      let d = maxAbsDifference(y, z)
      #expect(d <= 1e-6 * scale, "\(label) output \(k): max |difference| \(d) at scale \(scale)")
    }
    return (back, data)
  }

  static func everyLayer() -> Model {
    var rng = RandomGenerator(seed: 7)
    func t(_ dims: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor { Tensor.uniform(Shape(dims), low: lo, high: hi, using: &rng) }
    let bn = BatchNorm2D(6)
    (bn.weight.value, bn.bias.value, bn.runningMean.value, bn.runningVar.value) = (t([6], 0.5, 1.5), t([6]), t([6]), t([6], 0.5, 2))
    var nodes: [Model.Node] = []
    func add(_ name: String, _ layer: any Layer, _ inputs: [Int]) { nodes.append(Model.Node(name: name, layer: layer, inputs: inputs)) }
    add("input", Input(shape: [3, 8, 8]), [])
    add("conv", Conv2D(weight: t([6, 3, 3, 3]), bias: t([6]), geometry: ConvGeometry(padding: 1)), [0])  // 1
    add("bn", bn, [1])
    add("prelu", PReLU(slope: t([6, 1, 1], 0, 0.5)), [2])
    add("affine", ChannelAffine(scale: t([6], 0.5, 2), shift: t([6])), [3])
    add("hswish", Hardswish(), [4])  // 5
    add("dw", Conv2D(weight: t([6, 1, 3, 3]), bias: nil, geometry: ConvGeometry(stride: 2, padding: 1, groups: 6)), [5])
    add("relu6", ReLU6(), [6])
    add("maxpool", MaxPool2D(kernel: 3, stride: 1, padding: 1), [7])
    add("avgpool", AvgPool2D(kernel: 3, stride: 1, padding: 1, countIncludePad: false), [7])
    add("concat", Concat(axis: 1), [8, 9])  // 10
    add("pw", Conv2D(weight: t([8, 12, 1, 1]), bias: nil, geometry: ConvGeometry()), [10])
    add("leaky", LeakyReLU(negativeSlope: 0.1), [11])
    add("pad", Pad(before: [0, 0, 1, 0], after: [0, 0, 0, 1], value: 0.25), [12])
    add("slice", Slice([.all, .all, SliceRange(0, 4), SliceRange(1, Int.max)]), [13])
    add("up", Upsample(scale: 2), [14])  // 15
    add("silu", SiLU(), [15])
    add("clip", Clip(min: -1, max: .infinity), [16])
    add("sigmoid", Sigmoid(), [15])
    add("mul", Elementwise(.multiply), [17, 18])
    add("add", Add(), [19, 16])  // 20
    add("ewc", Elementwise(.subtract, constant: t([1, 1, 8]), constantFirst: true), [20])
    add("transpose", Transpose([0, 1, 3, 2]), [21])
    add("hsig", Hardsigmoid(alpha: 0.2, beta: 0.5), [22])
    add("tanh", Tanh(), [22])
    add("add2", Add(), [23, 24])  // 25
    add("deconv", ConvTranspose2D(weight: t([8, 4, 2, 2]), bias: t([4]), geometry: ConvGeometry(stride: 2)), [25])
    add("gap", GlobalAvgPool(), [26])
    add("flatten", Flatten(), [27])
    add("fc", Linear(weight: t([5, 4]), bias: t([5])), [28])
    add("softmax", Softmax(axis: -1), [29])  // 30
    add("rows", Flatten(startAxis: 2), [25])
    add("fc2", Linear(weight: t([3, 64]), bias: t([3])), [31])
    add("transpose2", Transpose([0, 2, 1]), [32])
    add("matmul", MatMul(), [32, 33])
    add("reshape", Reshape([64]), [34])  // 35
    return Model(nodes: nodes, inputs: [0], outputs: [30, 35])
  }

  @Test func everyWritableLayerRoundTrips() throws {
    let model = Self.everyLayer()
    let x = randomTensor([2, 3, 8, 8], seed: 3)
    let (back, data) = try Self.roundTrip(model, x, "every layer")
    let proto = try Onnx_ModelProto(serializedBytes: data)
    #expect(proto.irVersion == 8 && proto.opsetImport.map(\.version) == [17])
    #expect(proto.graph.input.map(\.name) == ["input"] && proto.graph.output.map(\.name) == ["softmax", "reshape"])
    // the kinds come back too, except Flatten from axis 2, which is a Reshape in ONNX
    let kinds = zip(model.nodes, back.model.nodes).filter { $0.0.layer.kind != $0.1.layer.kind }.map { "\($0.0.name): \($0.0.layer.kind) → \($0.1.layer.kind)" }
    #expect(kinds == ["rows: Flatten → Reshape"])
    #expect(Set(proto.graph.node.map(\.opType)).isSuperset(of: ["Conv", "BatchNormalization", "PRelu", "HardSwish", "Clip", "MaxPool", "AveragePool",
                                                                 "Concat", "LeakyRelu", "Pad", "Slice", "Resize", "Sigmoid", "Mul", "Add", "Sub",
                                                                 "Transpose", "HardSigmoid", "Tanh", "ConvTranspose", "GlobalAveragePool", "Flatten",
                                                                 "Gemm", "Softmax", "MatMul", "Reshape"]))
  }

  /// Opsets 13 and 19 (HardSwish has no operator before 14: x · HardSigmoid(x)); outside 13–19 refused.
  @Test func opsetsAndTheirIRVersions() throws {
    let model = Self.everyLayer()
    let x = randomTensor([1, 3, 8, 8], seed: 4)
    for (opset, ir) in [(13, 7), (19, 9)] {
      var o = ONNXWriter.Options()
      o.opset = opset
      let (_, data) = try Self.roundTrip(model, x, options: o, names: opset >= 14, "opset \(opset)")
      let proto = try Onnx_ModelProto(serializedBytes: data)
      #expect(proto.irVersion == Int64(ir) && proto.opsetImport.first?.version == Int64(opset))
      #expect(proto.graph.node.contains { $0.opType == "HardSwish" } == (opset >= 14))
    }
    for opset in [12, 20] {
      var o = ONNXWriter.Options()
      o.opset = opset
      #expect(throws: ONNXError.self) { try ONNXWriter.bytes(model, options: o) }
    }
  }

  /// The pre-13 softmax over the flattened trailing axes: Flatten, Softmax, Reshape back.
  @Test func coercedSoftmaxWritesAsFlattenSoftmaxReshape() throws {
    let nodes = [Model.Node(name: "x", layer: Input(shape: [3, 4, 5]), inputs: []),
                 Model.Node(name: "sm", layer: Softmax(axis: 1, coerced: true), inputs: [0])]
    let (back, _) = try Self.roundTrip(Model(nodes: nodes, inputs: [0], outputs: [1]), randomTensor([2, 3, 4, 5], seed: 5), names: false, "coerced softmax")
    #expect(back.model.nodes.map(\.layer.kind) == ["Input", "Flatten", "Softmax", "Reshape"])
  }

  @Test func layerWithoutONNXFormIsNamed() throws {
    let nodes = [Model.Node(name: "x", layer: Input(shape: [4]), inputs: []), Model.Node(name: "cube", layer: Cube(), inputs: [0])]
    let model = Model(nodes: nodes, inputs: [0], outputs: [1])
    #expect { try ONNXWriter.bytes(model) } throws: { "\($0)".contains("node 'cube' (Cube) has no ONNX form") }
  }

  /// Our own architectures (ResNet-20, the MobileNet-v2-style network) with trained-looking BN
  /// statistics round-trip with their PyTorch names.
  @Test(arguments: [Architecture.resnet20, .mobilenetv2])
  func builtInArchitecturesRoundTrip(_ arch: Architecture) throws {
    let model = try arch.make(seed: 11)
    var rng = RandomGenerator(seed: 12)
    for (name, b) in model.namedBuffers where name.hasSuffix("running_var") || name.hasSuffix("running_mean") {
      b.value = Tensor.uniform(b.value.shape, low: name.hasSuffix("var") ? 0.5 : -0.5, high: name.hasSuffix("var") ? 2 : 0.5, using: &rng)
    }
    try Self.roundTrip(model, randomTensor([2, 3, 32, 32], seed: 13), arch.rawValue)
  }

  /// Every fixture graph (PyTorch-style exports of the MobileNet family, U-Net, heads, opset 11
  /// and 18 files, external data): import ∘ export ∘ import.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip), arguments: Fixtures.names)
  func fixtureRoundTrips(_ name: String) throws {
    let entries = try Fixtures.manifest()
    let entry = entries.first { $0.name == name }!
    let reference = entry.same_as.map { s in entries.first { $0.name == s }! } ?? entry
    let first = try ONNXImporter.load(path: Fixtures.directory + "/\(name).onnx")
    var options = ONNXWriter.Options()
    options.outputNames = first.outputNames
    let x = Tensor(try Fixtures.floats("\(reference.name).input.bin"), shape: Shape(reference.input_shape!))
    // opset 11's Softmax over the flattened axes has no one-node form from 13 on
    let coerced = first.model.nodes.contains { ($0.layer as? Softmax)?.coerced == true }
    let (back, _) = try Self.roundTrip(first.model, x, options: options, names: !coerced, name)
    #expect(back.outputNames == first.outputNames && back.inputNames == first.inputNames)
  }
}

/// ONNX Runtime runs what the writer writes (the .ci/run venv, or QAT_PYTHON): same outputs as our
/// forward within 1e-5 of the output scale (different float kernels), onnx.checker passes.
@Suite struct ONNXWriterRuntimeTests {
  static let python: String? = {
    let env = ProcessInfo.processInfo.environment["QAT_PYTHON"]
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    for candidate in [env, repo + "/.venv-ci/bin/python"].compactMap({ $0 }) where FileManager.default.isExecutableFile(atPath: candidate) {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: candidate)
      p.arguments = ["-c", "import onnx, onnxruntime"]
      p.standardError = FileHandle.nullDevice
      guard (try? p.run()) != nil else { continue }
      p.waitUntilExit()
      if p.terminationStatus == 0 { return candidate }
    }
    return nil
  }()
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/scripts/ort_run.py"
  static let skip = Comment(rawValue: "skipped: no Python with onnx and onnxruntime (.venv-ci as .ci/run makes it, or QAT_PYTHON)")

  /// Runs an ONNX file in ONNX Runtime on x: each output's values and shape (nil with the
  /// script's error recorded when it fails).
  static func run(_ path: String, _ x: Tensor, _ label: String) throws -> [(values: [Float], shape: [Int])]? {
    let dir = TestData.temporaryDirectory("ort-run")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try x.scalars.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/input.bin"))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python!)
    p.arguments = [script, path, dir + "/input.bin", x.shape.dims.map(String.init).joined(separator: ","), dir + "/out"]
    let errors = Pipe()
    p.standardError = errors
    try p.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "\(label): ort_run.py failed: \(message)")
    guard p.terminationStatus == 0 else { return nil }
    var outputs: [(values: [Float], shape: [Int])] = []
    for k in 0... {
      guard let data = FileManager.default.contents(atPath: dir + "/out.\(k).bin") else { break }
      let shape = try String(contentsOfFile: dir + "/out.\(k).shape", encoding: .utf8).split(separator: ",").map { Int($0)! }
      outputs.append((data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }, shape))
    }
    return outputs
  }

  static func check(_ model: Model, _ x: Tensor, _ label: String, options: ONNXWriter.Options = ONNXWriter.Options()) throws {
    let dir = TestData.temporaryDirectory("onnx-writer-ort")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try ONNXWriter.write(model, to: dir + "/model.onnx", options: options)
    guard let theirs = try run(dir + "/model.onnx", x, label) else { return }
    model.setPhase(.inference)
    let ours = model.withoutGradients { model.forward([x]) }
    #expect(theirs.count == ours.count)
    for (k, (y, t)) in zip(ours, theirs).enumerated() {
      #expect(t.shape == y.shape.dims, "\(label) output \(k): ONNX Runtime \(t.shape), ours \(y.shape)")
      guard t.values.count == y.count else { continue }
      let scale = max(1e-3, y.scalars.map(abs).max() ?? 0)
      let d = zip(y.scalars, t.values).map { abs($0 - $1) }.max() ?? 0
      #expect(d <= 1e-5 * scale, "\(label) output \(k): max |ours − ONNX Runtime| \(d) at scale \(scale)")
    }
  }

  @Test(.enabled(if: python != nil, skip)) func everyLayerRunsInONNXRuntime() throws {
    for opset in [13, 17, 19] {
      var o = ONNXWriter.Options()
      o.opset = opset
      try Self.check(ONNXWriterTests.everyLayer(), randomTensor([2, 3, 8, 8], seed: 21), "every layer, opset \(opset)", options: o)
    }
  }

  @Test(.enabled(if: python != nil, skip), arguments: [Architecture.resnet20, .mobilenetv2])
  func architecturesRunInONNXRuntime(_ arch: Architecture) throws {
    try Self.check(try arch.make(seed: 5), randomTensor([2, 3, 32, 32], seed: 22), arch.rawValue)
  }
}
