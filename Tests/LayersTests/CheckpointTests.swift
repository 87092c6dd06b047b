import Autograd
import Foundation
import HDF5IO
import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct CheckpointTests {
  func smallModel(seed: UInt64) -> Model {
    var b = ModelBuilder(seed: seed)
    var x = b.input(shape: [2, 6, 6])
    x = b.conv2d("conv", x, 2, 4, kernel: 3, padding: 1, bias: false)
    x = b.add("bn", BatchNorm2D(4), x)
    x = b.add("relu", ReLU(), x)
    x = b.add("pool", GlobalAvgPool(), x)
    x = b.add("flat", Flatten(), x)
    x = b.linear("fc", x, 4, 3)
    return b.build(output: x)
  }

  @Test func roundTripRestoresEveryTensor() throws {
    let dir = TestData.temporaryDirectory()
    let a = smallModel(seed: 1), b = smallModel(seed: 2)
    _ = a(randomTensor([4, 2, 6, 6], seed: 3))  // moves the running statistics
    try Checkpoint.save(a, step: 7, attributes: ["note": "hello"], to: dir + "/a.h5")
    let contents = try Checkpoint.load(into: b, from: dir + "/a.h5")
    #expect(contents.step == 7 && contents.attributes["note"] == "hello")
    for ((n1, p1), (_, p2)) in zip(a.namedParameters, b.namedParameters) { #expect(p1.value.scalars == p2.value.scalars, "\(n1)") }
    for ((n1, b1), (_, b2)) in zip(a.namedBuffers, b.namedBuffers) { #expect(b1.value.scalars == b2.value.scalars, "\(n1)") }
    // readable as plain datasets named by PyTorch keys
    let names = try HDF5File(path: dir + "/a.h5", mode: .read).datasetNames()
    #expect(names == ["bn.bias", "bn.running_mean", "bn.running_var", "bn.weight", "conv.weight", "fc.bias", "fc.weight"])
  }

  /// Issue 17: a negative running variance evaluated to 0 % with exit 0 (NaN from the rsqrt); the
  /// checkpoint is refused, naming the buffer and the channel. Byte-identical files for the same
  /// model (no HDF5 object timestamps), so a seed reproduces its outputs exactly.
  @Test func negativeVarianceIsRefusedAndFilesAreReproducible() throws {
    let dir = TestData.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let a = smallModel(seed: 1)
    try Checkpoint.save(a, to: dir + "/a.h5")
    usleep(1_100_000)  // a later second: timestamps would differ
    try Checkpoint.save(a, to: dir + "/b.h5")
    #expect(FileManager.default.contents(atPath: dir + "/a.h5") == FileManager.default.contents(atPath: dir + "/b.h5"))
    let bn = a.nodes.compactMap { $0.layer as? BatchNorm2D }.first!
    bn.runningVar.value = Tensor([1, 1, -0.5, 1], shape: [4])
    try Checkpoint.save(a, to: dir + "/neg.h5")
    do {
      _ = try Checkpoint.load(into: smallModel(seed: 2), from: dir + "/neg.h5")
      Issue.record("a negative running variance was accepted")
    } catch {
      #expect("\(error)".contains("bn.running_var") && "\(error)".contains("negative running variance -0.5 at channel 2"), "\(error)")
    }
  }

  @Test func mismatchesAreReportedTogether() throws {
    let dir = TestData.temporaryDirectory()
    let f = try HDF5File(path: dir + "/bad.h5", mode: .create)
    try f.write("conv.weight", shape: [4, 2, 5, 5], values: [Float](repeating: 0, count: 200))
    try f.write("extra.weight", shape: [1], values: [Float(0)])
    try f.close()
    do {
      try Checkpoint.load(into: smallModel(seed: 1), from: dir + "/bad.h5")
      Issue.record("loading a mismatched checkpoint succeeded")
    } catch let e as CheckpointError {
      #expect(e.missing.contains("bn.running_mean") && e.missing.contains("fc.weight"))
      #expect(e.unexpected == ["extra.weight"])
      #expect(e.misshaped.count == 1 && e.misshaped[0].name == "conv.weight")
      #expect(e.description.contains("expected shape [4, 2, 3, 3], found [4, 2, 5, 5]"))
    }
  }

  @Test func failedSaveLeavesNoFile() throws {
    let dir = TestData.temporaryDirectory()
    let path = dir + "/x.h5"
    struct Boom: Error {}
    #expect(throws: Boom.self) { try Checkpoint.writeAtomically(to: path) { _ in throw Boom() } }
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
  }

  /// Training 6 steps straight equals training 3, saving, loading into fresh objects and training 3.
  @Test func resumeContinuesBitwiseIdentically() throws {
    let dir = TestData.temporaryDirectory()
    let data = (0..<6).map { randomTensor([4, 2, 6, 6], seed: 10 + UInt64($0)) }
    let labels = [[0, 1, 2, 0], [1, 1, 0, 2], [2, 0, 1, 1], [0, 0, 2, 1], [1, 2, 2, 0], [2, 1, 0, 0]]
    func run(_ model: Model, _ opt: SGD, _ steps: Range<Int>) {
      for s in steps {
        let schedule = CosineSchedule(base: 0.1, totalSteps: 6)
        opt.learningRate = schedule.learningRate(at: s)
        let (_, g) = valueWithGradients { model(data[s]).softmaxCrossEntropy(labels: labels[s]) }
        opt.update(g)
      }
    }
    let straight = smallModel(seed: 5)
    let o1 = SGD(straight.parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
    run(straight, o1, 0..<6)

    let first = smallModel(seed: 5)
    let o2 = SGD(first.parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
    run(first, o2, 0..<3)
    try Checkpoint.save(first, optimizer: o2, step: 3, to: dir + "/resume.h5")
    let resumed = smallModel(seed: 99)
    let o3 = SGD(resumed.parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
    let contents = try Checkpoint.load(into: resumed, optimizer: o3, from: dir + "/resume.h5")
    run(resumed, o3, contents.step..<6)
    for ((name, p1), (_, p2)) in zip(straight.namedParameters, resumed.namedParameters) {
      #expect(p1.value.scalars == p2.value.scalars, "\(name)")
    }
    for ((name, b1), (_, b2)) in zip(straight.namedBuffers, resumed.namedBuffers) {
      #expect(b1.value.scalars == b2.value.scalars, "\(name)")
    }
  }
}

@Suite struct PretrainedParityTests {
  /// The Swift ResNet-20 with the pretrained weights reproduces PyTorch's logits.
  @Test(.enabled(if: TestData.hasModels, TestData.skipModels))
  func resnet20ReproducesReferenceLogits() throws {
    let model = CIFARResNet.resnet20()
    try Checkpoint.load(into: model, from: TestData.path("models/resnet20.h5"))
    model.setPhase(.inference)
    let ref = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let (inShape, input) = try ref.read("input", as: Float.self)
    let (outShape, logits) = try ref.read("logits", as: Float.self)
    let y = model(Tensor(input, shape: Shape(inShape)))
    #expect(y.shape == Shape(outShape))
    let diff = maxAbsDifference(y, Tensor(logits, shape: Shape(outShape)))
    #expect(diff < 1e-4, "max |logit difference| \(diff)")
  }
}
