import Datasets
import Foundation
import HDF5IO
import TensorCore
import Testing
import TestSupport

@Suite struct PreprocessingTests {
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func cifarResNet20MatchesPyTorchBitForBit() throws {
    let file = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let (shape, expected) = try file.read("input", as: Float.self)
    #expect(shape == [64, 3, 32, 32])
    var mismatches = 0
    var worst: Float = 0
    for i in 0..<64 {
      let path = TestData.path("data/cifar10/test/airplane/" + String(format: "%04d.jpg", i))
      let tensor = try Preprocessing.cifarResNet20.apply(try ImageDecoder.decodeFile(path), source: path)
      #expect(tensor.shape == [3, 32, 32])
      for (a, b) in zip(tensor.scalars, expected[(i * 3072)..<((i + 1) * 3072)]) {
        if a.bitPattern != b.bitPattern { mismatches += 1 }
        worst = max(worst, abs(a - b))
      }
    }
    print("cifarResNet20 preprocessing vs reference `input`: \(mismatches) bitwise mismatches, max |diff| \(worst)")
    #expect(mismatches == 0)
  }

  @Test func fastPathUsesExactArithmetic() throws {
    let image = patternImage(width: 32, height: 32)
    let t = try Preprocessing.cifarResNet20.apply(image, source: "pattern")
    let mean: [Float] = [0.485, 0.456, 0.406].map { (v: Double) in Float(v) }
    let std: [Float] = [0.229, 0.224, 0.225].map { (v: Double) in Float(v) }
    for c in 0..<3 {
      for y in [0, 5, 31] {
        for x in [0, 17, 31] {
          let u = image[y: y, x: x, c: c]
          #expect(t[c, y, x].bitPattern == ((Float(u) / 255 - mean[c]) / std[c]).bitPattern)
        }
      }
    }
  }

  @Test func caffeStyleOptionsApplyInOrder() throws {
    let image = patternImage(width: 5, height: 4)
    let p = Preprocessing(transpose: [2, 0, 1], channelSwap: [2, 1, 0], rawScale: 255,
                          meanValue: [104, 117, 123], inputScale: 0.5)
    let t = try p.apply(image, source: "pattern")
    #expect(t.shape == [3, 4, 5])
    let mean: [Float] = [104, 117, 123]
    for k in 0..<3 {
      for y in 0..<4 {
        for x in 0..<5 {
          let u = image[y: y, x: x, c: 2 - k]  // BGR output
          #expect(t[k, y, x] == ((Float(u) / 255) * 255 - mean[k]) * 0.5)
        }
      }
    }
    // Keeping HWC with an identity transpose.
    let hwc = try Preprocessing(transpose: [0, 1, 2]).apply(image, source: "pattern")
    #expect(hwc.shape == [4, 5, 3])
    #expect(hwc[3, 4, 1] == Float(image[y: 3, x: 4, c: 1]) / 255)
  }

  @Test func resizeAndCenterCrop() throws {
    // A constant image stays constant under bilinear resizing.
    var flat = Image(width: 7, height: 5, channels: 1)
    for i in 0..<flat.pixels.count { flat.pixels[i] = 51 }
    let up = try Preprocessing(dims: [1, 10, 14]).apply(flat, source: "flat")
    #expect(up.shape == [1, 10, 14])
    #expect(up.scalars.allSatisfy { $0 == Float(51) / 255 })
    // 2x upsampling of a 2-pixel ramp: half-pixel centres give 0, 1/4, 3/4, 1 of the step.
    let ramp = Image(width: 2, height: 1, channels: 1, pixels: [0, 255])
    let wide = try Preprocessing(dims: [1, 1, 4]).apply(ramp, source: "ramp")
    #expect(wide.scalars == [0, 0.25, 0.75, 1])
    // Center crop without a resize takes the middle window.
    let image = patternImage(width: 6, height: 6)
    let crop = try Preprocessing(centerCrop: [2, 4]).apply(image, source: "p")
    #expect(crop.shape == [3, 2, 4])
    #expect(crop[1, 0, 0] == Float(image[y: 2, x: 1, c: 1]) / 255)
    let tooLarge = dataError { _ = try Preprocessing(centerCrop: [8, 8]).apply(image, source: "small.png") }
    #expect(tooLarge?.source == "small.png")
  }

  @Test func contradictoryOptionsThrow() throws {
    let bad = [
      Preprocessing(dims: [3, 32]),
      Preprocessing(dims: [2, 8, 8]),
      Preprocessing(transpose: [0, 0, 1]),
      Preprocessing(dims: [3, 8, 8], channelSwap: [1, 0]),
      Preprocessing(dims: [3, 8, 8], meanValue: [1, 2]),
      Preprocessing(std: [1, 0, 1]),
      Preprocessing(dims: [3, 8, 8], centerCrop: [9, 9]),
      Preprocessing(inputScale: .nan),
    ]
    for p in bad {
      #expect(dataError { try p.validate() }?.source == "Preprocessing", "\(p)")
    }
    try Preprocessing.cifarResNet20.validate()
    let gray = Image(width: 32, height: 32, channels: 1)
    let error = dataError { _ = try Preprocessing.cifarResNet20.apply(gray, source: "gray.png") }
    #expect(error?.source == "gray.png")
  }

  @Test func codableUsesXfDNNNamesAndIsStrict() throws {
    let json = #"{"dims":[3,224,224],"transpose":[2,0,1],"channel_swap":[2,1,0],"raw_scale":255,"mean_value":[104,117,123],"input_scale":1}"#
    let p = try JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8))
    #expect(p == Preprocessing(dims: [3, 224, 224], channelSwap: [2, 1, 0], rawScale: 255, meanValue: [104, 117, 123], inputScale: 1))
    let again = try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(Preprocessing.cifarResNet20))
    #expect(again == Preprocessing.cifarResNet20)
    #expect(throws: DataError.self) { try JSONDecoder().decode(Preprocessing.self, from: Data(#"{"mean":[1]}"#.utf8)) }
    #expect(throws: DataError.self) { try JSONDecoder().decode(Preprocessing.self, from: Data(#"{"transpose":[1,1,0]}"#.utf8)) }
  }
}
