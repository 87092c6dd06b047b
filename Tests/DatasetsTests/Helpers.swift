import Datasets
import Foundation
import TensorCore

/// Small in-memory images with a pattern that depends on the index (for loader tests).
struct SyntheticImages: ImageSource {
  var count: Int
  var width = 8
  var height = 6
  var classNames: [String] { ["even", "odd"] }

  func image(at index: Int) throws -> (Image, label: Int) {
    var image = Image(width: width, height: height, channels: 3)
    for i in 0..<image.pixels.count { image.pixels[i] = UInt8((index * 31 + i * 7) % 251) }
    return (image, index % 2)
  }

  func source(at index: Int) -> String { "synthetic#\(index)" }
}

/// A dataset whose sample value encodes the index, failing at chosen indices.
struct IndexDataset: Dataset {
  var count: Int
  var failing: Set<Int> = []
  var classNames: [String] { ["all"] }

  func sample(at index: Int, rng: inout RandomGenerator) throws -> Sample {
    if failing.contains(index) { throw DataError(source: source(at: index), "synthetic failure") }
    return Sample(tensor: Tensor([Float(index), rng.nextFloat()], shape: [2]), label: index % 3)
  }

  func source(at index: Int) -> String { "index-file-\(index).bin" }
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
  try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// An RGB test pattern image.
func patternImage(width: Int, height: Int, channels: Int = 3, seed: Int = 1) -> Image {
  var image = Image(width: width, height: height, channels: channels)
  for i in 0..<image.pixels.count { image.pixels[i] = UInt8((i * 37 + seed * 11 + (i / 7) * 3) % 256) }
  return image
}

/// Catches the `DataError` thrown by `body`, or nil when it does not throw one.
func dataError(_ body: () throws -> Void) -> DataError? {
  do { try body() } catch let error as DataError { return error } catch { return nil }
  return nil
}
