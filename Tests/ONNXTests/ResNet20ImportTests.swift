import HDF5IO
import Layers
import Testing
import TensorCore
import TestSupport
@testable import ONNX

/// The shared resnet20.onnx (PyTorch export, BN unfused, option-A shortcuts as Slice / Pad)
/// imports as a model of our layers that reproduces PyTorch's logits.
@Suite struct ResNet20ImportTests {
  @Test(.enabled(if: TestData.hasModels, TestData.skipModels))
  func importedResNet20ReproducesReferenceLogits() throws {
    let result = try ONNXImporter.load(path: TestData.path("models/resnet20.onnx"))
    let model = result.model
    model.setPhase(.inference)
    let ref = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let (inShape, input) = try ref.read("input", as: Float.self)
    let (outShape, logits) = try ref.read("logits", as: Float.self)
    let y = model(Tensor(input, shape: Shape(inShape)))
    #expect(y.shape == Shape(outShape))
    let diff = maxAbsDifference(y, Tensor(logits, shape: Shape(outShape)))
    #expect(diff < 1e-4, "max |logit difference| \(diff)")
    // initializers keep their ONNX names
    let names = Set(model.namedParameters.map(\.name))
    #expect(names.contains("conv1.weight") && names.contains("layer3.2.bn2.bias") && names.contains("linear.weight"), "\(names.sorted().prefix(6))")
    #expect(Set(model.namedBuffers.map(\.name)).contains("layer1.0.bn1.running_var"))
    #expect(result.nodes.count == 75)
  }
}
