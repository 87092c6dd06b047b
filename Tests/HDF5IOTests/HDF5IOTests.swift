import Foundation
import HDF5IO
import Testing
import TestSupport

@Suite struct HDF5IOTests {
  @Test func numericRoundTripWithGroupsAndDots() throws {
    let dir = TestData.temporaryDirectory()
    let path = dir + "/a.h5"
    let f = try HDF5File(path: path, mode: .create)
    try f.write("layer1.0.conv1.weight", shape: [2, 3], values: [Float](arrayLiteral: 1, 2, 3, 4, 5, 6), compress: true)
    try f.write("group/sub/ints", shape: [4], values: [Int8](arrayLiteral: -128, -1, 0, 127))
    try f.write("wide", shape: [2], values: [Int64](arrayLiteral: Int64.min, Int64.max))
    try f.write("scalar", shape: [], values: [Double](arrayLiteral: 2.5))
    try f.setAttribute("note", string: "ünïcode ok")
    try f.setAttribute("eps", numbers: [1e-5])
    try f.close()

    let r = try HDF5File(path: path, mode: .read)
    #expect(try r.datasetNames() == ["group/sub/ints", "layer1.0.conv1.weight", "scalar", "wide"])
    let w = try r.read("layer1.0.conv1.weight", as: Float.self)
    #expect(w.shape == [2, 3] && w.values == [1, 2, 3, 4, 5, 6])
    #expect(try r.read("group/sub/ints", as: Int8.self).values == [-128, -1, 0, 127])
    #expect(try r.read("group/sub/ints", as: Float.self).values == [-128, -1, 0, 127])  // converted on read
    #expect(try r.read("wide", as: Int64.self).values == [Int64.min, Int64.max])
    #expect(try r.read("scalar", as: Double.self).shape == [])
    #expect(try r.stringAttribute("note") == "ünïcode ok")
    #expect(try r.numericAttribute("eps") == [1e-5])
    #expect(try r.stringAttribute("absent") == nil)
    #expect(r.contains("group/sub/ints") && !r.contains("group/nope"))
  }

  @Test func errorsNameTheFileAndObject() throws {
    let dir = TestData.temporaryDirectory()
    #expect(throws: HDF5Error.self) { try HDF5File(path: dir + "/missing.h5", mode: .read) }
    let junk = dir + "/junk.h5"
    try Data("not an hdf5 file at all".utf8).write(to: URL(fileURLWithPath: junk))
    do {
      _ = try HDF5File(path: junk, mode: .read)
      Issue.record("opening junk succeeded")
    } catch let e as HDF5Error {
      #expect(e.file == junk)
    }
    let good = dir + "/good.h5"
    let f = try HDF5File(path: good, mode: .create)
    try f.write("x", shape: [1000], values: [Float](repeating: 1, count: 1000))
    try f.close()
    let r = try HDF5File(path: good, mode: .read)
    do {
      _ = try r.read("y", as: Float.self)
      Issue.record("reading a missing dataset succeeded")
    } catch let e as HDF5Error {
      #expect(e.object == "y" && e.description.contains(good))
    }
    // a truncated copy fails with an error, not a crash
    let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
    let cut = dir + "/cut.h5"
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
    #expect(throws: HDF5Error.self) {
      let t = try HDF5File(path: cut, mode: .read)
      _ = try t.read("x", as: Float.self)
    }
  }

  @Test(.enabled(if: TestData.hasModels, TestData.skipModels))
  func readsThePretrainedCheckpoint() throws {
    let f = try HDF5File(path: TestData.path("models/resnet20.h5"), mode: .read)
    let names = try f.datasetNames()
    #expect(names.count == 97)
    #expect(try f.shape(of: "conv1.weight") == [16, 3, 3, 3])
    #expect(try f.stringAttribute("architecture") == "cifar_resnet20")
    let classes = try f.stringArrayAttribute("classes")
    #expect(classes?.count == 10 && classes?.first == "airplane")
    let ref = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let files = try ref.readStrings("files")
    #expect(files.count == 64 && files[0] == "test/airplane/0000.jpg")
    #expect(try ref.read("labels", as: Int64.self).values.allSatisfy { $0 == 0 })
  }
}
