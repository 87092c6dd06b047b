import Foundation
import Layers
import Testing
import TensorCore
import TestSupport
@testable import ONNX

/// Every malformed or unsupported file is a thrown error naming the node, tensor or file — never a
/// crash, a giant allocation or a model that computes something else.
@Suite struct BadFileTests {
  @Test func aValidGraphImports() throws {
    #expect(ProtoBuilder.importError(try ProtoBuilder.convRelu().bytes()) == nil)
  }

  @Test func truncatedAndGarbageBytes() throws {
    let good = try ProtoBuilder.convRelu().bytes()
    for cut in [1, good.count / 3, good.count - 5] {
      let m = ProtoBuilder.importError(good.prefix(cut))
      #expect(m != nil && m!.contains("test.onnx"), "truncated at \(cut): \(m ?? "accepted")")
    }
    let m = ProtoBuilder.importError(Data((0..<200).map { UInt8(($0 * 37) % 251) }))
    #expect(m?.contains("test.onnx") == true, "\(m ?? "accepted")")
  }

  @Test func unsupportedOpsNameTheNodeAndTheSupportedList() throws {
    var b = ProtoBuilder.convRelu()
    b.node("Erf", ["relu"], "erf", name: "strange")
    b.node("Einsum", ["erf"], "out", name: "stranger")
    b.outputs = ["out"]
    let m = ProtoBuilder.importError(try b.bytes()) ?? ""
    #expect(m.contains("strange") && m.contains("Erf") && m.contains("supported: ") && m.contains("Conv"), "\(m)")
    // inspect lists both, the second as blocked behind the first
    let (nodes, model) = try ONNXImporter.inspect(try ONNXFile(bytes: try b.bytes(), path: "test.onnx"))
    #expect(model == nil)
    #expect(nodes.first { $0.name == "strange" }?.status == .unsupported("op type Erf"))
    #expect(nodes.first { $0.name == "stranger" }?.status == .blocked)
    var c = ProtoBuilder.convRelu()
    c.node("Erf", ["input"], "e1", name: "first")
    c.node("Einsum", ["input"], "e2", name: "second")
    c.outputs = ["relu", "e1", "e2"]
    let unsupported = try ONNXImporter.inspect(try ONNXFile(bytes: try c.bytes(), path: "t.onnx")).nodes
      .filter { if case .unsupported = $0.status { true } else { false } }.map(\.name)
    #expect(unsupported == ["first", "second"])
  }

  @Test func missingInitializersAndDanglingInputsAreNamed() throws {
    var b = ProtoBuilder.convRelu()
    b.initializers.removeLast()  // "b"
    let m = ProtoBuilder.importError(try b.bytes()) ?? ""
    #expect(m.contains("conv") && m.contains("'b'"), "\(m)")
    var d = ProtoBuilder.convRelu()
    d.outputs = ["nowhere"]
    #expect(ProtoBuilder.importError(try d.bytes())?.contains("nowhere") == true)
  }

  @Test func shapesThatDoNotFitAreNamed() throws {
    var b = ProtoBuilder.convRelu()
    b.inputShape = [1, 5, 6, 6]  // the weight wants 2 channels
    let m = ProtoBuilder.importError(try b.bytes()) ?? ""
    #expect(m.contains("'conv'") && m.contains("5 channels"), "\(m)")
    var k = ProtoBuilder.convRelu()
    k.inputShape = [1, 2, 1, 1]
    k.nodes[0].attribute = []  // no padding: a 3x3 kernel on 1x1
    #expect(ProtoBuilder.importError(try k.bytes())?.contains("does not fit") == true)
    var r = ProtoBuilder.convRelu()
    r.initializers.append(ProtoBuilder.ints("shape", [0, 7]))
    r.node("Reshape", ["relu", "shape"], "flat")
    r.outputs = ["flat"]
    #expect(ProtoBuilder.importError(try r.bytes())?.contains("elements") == true)
  }

  @Test func dataThatDoesNotMatchItsDimsIsRefusedBeforeAllocating() throws {
    var b = ProtoBuilder.convRelu()
    b.initializers[0].dims = [1_000_000, 1_000_000, 1_000, 3]
    let m = ProtoBuilder.importError(try b.bytes()) ?? ""
    #expect(m.contains("'w'") && m.contains("elements"), "\(m)")
    var c = ProtoBuilder.convRelu()
    c.initializers[0].floatData = []
    c.initializers[0].rawData = Data(count: 7)
    #expect(ProtoBuilder.importError(try c.bytes())?.contains("7 bytes") == true)
    var n = ProtoBuilder.convRelu()
    n.initializers[0].dims = [-3, 2, 3, 3]
    #expect(ProtoBuilder.importError(try n.bytes())?.contains("non-negative") == true)
  }

  @Test func dynamicShapesThatCannotFoldAreNamed() throws {
    var b = ProtoBuilder.convRelu()
    b.node("Shape", ["relu"], "shape")
    b.initializers += [ProtoBuilder.ints("zero", [0]), ProtoBuilder.ints("two", [2])]
    b.node("Gather", ["shape", "zero"], "batch")
    b.node("Mul", ["batch", "two"], "twice")
    b.outputs = ["twice"]
    let m = ProtoBuilder.importError(try b.bytes()) ?? ""
    #expect(m.contains("batch size"), "\(m)")
    var r = ProtoBuilder.convRelu()
    r.node("Reshape", ["relu", "relu"], "odd")
    r.outputs = ["odd"]
    #expect(ProtoBuilder.importError(try r.bytes())?.contains("known at import") == true)
    var s = ProtoBuilder.convRelu()
    s.inputShape = [1, 2, 0, 6]
    #expect(ProtoBuilder.importError(try s.bytes())?.contains("--dims") == true)
  }

  @Test func opsetsOutsideTheRangeAndForeignDomains() throws {
    var b = ProtoBuilder.convRelu()
    b.opset = 9
    #expect(ProtoBuilder.importError(try b.bytes())?.contains("opset 9") == true)
    var d = ProtoBuilder.convRelu()
    d.nodes[1].domain = "com.microsoft"
    #expect(ProtoBuilder.importError(try d.bytes())?.contains("com.microsoft") == true)
  }

  @Test func wrongAttributeTypesAndSharedWeightsAreNamed() throws {
    var b = ProtoBuilder.convRelu()
    var a = Onnx_AttributeProto()
    a.name = "group"
    a.type = .float
    a.f = 1
    b.nodes[0].attribute.append(a)
    #expect(ProtoBuilder.importError(try b.bytes())?.contains("'group' must be an integer") == true)
    var s = ProtoBuilder.convRelu()
    s.initializers[0] = ProtoBuilder.tensor("w", [2, 2, 3, 3], (0..<36).map { Float($0) * 0.01 })
    s.initializers[1] = ProtoBuilder.tensor("b", [2], [0, 0])
    s.node("Conv", ["relu", "w", "b"], "again", attributes: [ProtoBuilder.attribute("pads", ints: [1, 1, 1, 1])])
    s.outputs = ["again"]
    #expect(ProtoBuilder.importError(try s.bytes())?.contains("shared weights") == true)
  }

  @Test func externalDataOutsideTheModelFolderIsRefused() throws {
    var b = ProtoBuilder.convRelu()
    b.initializers[0].floatData = []
    b.initializers[0].dataLocation = .external
    var e = Onnx_StringStringEntryProto()
    (e.key, e.value) = ("location", "../../etc/passwd")
    b.initializers[0].externalData = [e]
    let dir = TestData.temporaryDirectory("onnx-ext")
    try b.bytes().write(to: URL(fileURLWithPath: dir + "/m.onnx"))
    do { _ = try ONNXImporter.load(path: dir + "/m.onnx"); Issue.record("escaping external data accepted") } catch {
      #expect("\(error)".contains("inside the model's folder"), "\(error)")
    }
  }
}
