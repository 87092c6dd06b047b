import Datasets
import Foundation
import HDF5IO
import Testing
import TestSupport

@Suite struct DecoderTests {
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func referencePixelsMatchPillow() throws {
    let file = try HDF5File(path: TestData.path("models/resnet20_reference.h5"), mode: .read)
    let (shape, expected) = try file.read("input_uint8_nhwc", as: UInt8.self)
    #expect(shape == [64, 32, 32, 3])
    var maxDifference = 0
    for i in 0..<64 {
      let path = TestData.path("data/cifar10/test/airplane/" + String(format: "%04d.jpg", i))
      let image = try ImageDecoder.decodeFile(path)
      #expect(image.width == 32 && image.height == 32 && image.channels == 3)
      let reference = expected[(i * 3072)..<((i + 1) * 3072)]
      for (a, b) in zip(image.pixels, reference) { maxDifference = max(maxDifference, abs(Int(a) - Int(b))) }
    }
    print("max |pixel - Pillow pixel| over 64 reference images: \(maxDifference)")
    #expect(maxDifference == 0)
  }

  @Test func pngRoundTripIsExact() throws {
    for channels in [1, 3] {
      let image = patternImage(width: 13, height: 7, channels: channels)
      let bytes = try ImageEncoder.png(image)
      #expect(ImageDecoder.format(of: bytes) == .png)
      let decoded = try ImageDecoder.decode(bytes, source: "memory.png")
      #expect(decoded == image)
    }
  }

  @Test func grayJPEGDecodesToOneChannelOrReplicatedRGB() throws {
    let gray = patternImage(width: 16, height: 16, channels: 1)
    let bytes = try ImageEncoder.jpeg(gray, quality: 95)
    let decoded = try ImageDecoder.decode(bytes, source: "gray.jpg")
    #expect(decoded.channels == 1 && decoded.width == 16 && decoded.height == 16)
    let rgb = try ImageDecoder.decode(bytes, source: "gray.jpg", channels: .rgb)
    #expect(rgb.channels == 3)
    for p in 0..<(16 * 16) {
      #expect(rgb.pixels[3 * p] == decoded.pixels[p] && rgb.pixels[3 * p + 2] == decoded.pixels[p])
    }
  }

  @Test func jpegRoundTripIsClose() throws {
    var flat = Image(width: 16, height: 16, channels: 3)
    for p in 0..<256 { flat.pixels[3 * p] = 200; flat.pixels[3 * p + 1] = 100; flat.pixels[3 * p + 2] = 50 }
    let decoded = try ImageDecoder.decode(try ImageEncoder.jpeg(flat, quality: 95), source: "flat.jpg")
    let worst = zip(decoded.pixels, flat.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    #expect(worst <= 3)
  }

  @Test func corruptFilesThrowErrorsNamingTheFile() throws {
    let dir = TestData.temporaryDirectory("decoder")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let jpeg = try ImageEncoder.jpeg(patternImage(width: 32, height: 32), quality: 75)
    let png = try ImageEncoder.png(patternImage(width: 32, height: 32))
    let cases: [(String, [UInt8])] = [
      ("truncated.jpg", Array(jpeg.prefix(jpeg.count / 2))),
      ("header-only.jpg", Array(jpeg.prefix(200))),
      ("truncated.png", Array(png.prefix(png.count / 2))),
      ("garbage.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5]),
      ("text.jpg", Array("hello, not an image".utf8)),
      ("empty.png", []),
    ]
    for (name, bytes) in cases {
      let path = dir + "/" + name
      try writeBytes(bytes, to: path)
      let error = dataError { _ = try ImageDecoder.decodeFile(path) }
      #expect(error?.source == path, "\(name): \(String(describing: error))")
      #expect(error?.description.contains(name) == true)
    }
    let missing = dataError { _ = try ImageDecoder.decodeFile(dir + "/missing.jpg") }
    #expect(missing?.source == dir + "/missing.jpg")
  }

  @Test func truncatedJPEGReportsLibjpegWarningAsError() throws {
    let jpeg = try ImageEncoder.jpeg(patternImage(width: 32, height: 32), quality: 75)
    let error = dataError { _ = try ImageDecoder.decode(Array(jpeg.prefix(jpeg.count - 40)), source: "cut.jpg") }
    #expect(error?.source == "cut.jpg")
    #expect(error?.message.hasPrefix("JPEG") == true, "\(String(describing: error))")
  }
}
