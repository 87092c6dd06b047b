import Datasets
import TensorCore
import Testing

@Suite struct AugmentationTests {
  @Test func cropAndFlipMovePixelsAsExpected() {
    let image = patternImage(width: 4, height: 3)
    // Offset (padding, padding) without flip is the identity.
    #expect(Augmentation.transform(image, height: 3, width: 4, padding: 2, top: 2, left: 2, flip: false) == image)
    // Shifted window: output (y, x) = input (y + top - pad, x + left - pad), zeros outside.
    let shifted = Augmentation.transform(image, height: 3, width: 4, padding: 2, top: 3, left: 0, flip: false)
    for y in 0..<3 {
      for x in 0..<4 {
        let sy = y + 1, sx = x - 2
        for c in 0..<3 {
          let expected = sy < 3 && sx >= 0 ? image[y: sy, x: sx, c: c] : 0
          #expect(shifted[y: y, x: x, c: c] == expected)
        }
      }
    }
    // Flip mirrors columns.
    let flipped = Augmentation.transform(image, height: 3, width: 4, padding: 0, top: 0, left: 0, flip: true)
    for y in 0..<3 {
      for x in 0..<4 {
        for c in 0..<3 { #expect(flipped[y: y, x: x, c: c] == image[y: y, x: 3 - x, c: c]) }
      }
    }
  }

  @Test func randomAugmentationIsSeededAndKeepsShape() throws {
    let image = patternImage(width: 32, height: 32)
    var flips = 0
    var positions = Set<[Int]>()
    for seed in 0..<200 as Range<UInt64> {
      var rng = RandomGenerator(seed: seed), replay = rng
      let x = try Augmentation.cifar.apply(image, rng: &rng)
      #expect(x.width == 32 && x.height == 32 && x.channels == 3)
      // The draws are top, then left (uniform in 0...8), then the flip coin.
      let top = replay.nextInt(below: 9), left = replay.nextInt(below: 9), flip = replay.nextDouble() < 0.5
      #expect(rng == replay)
      #expect(x == Augmentation.transform(image, height: 32, width: 32, padding: 4, top: top, left: left, flip: flip))
      if flip { flips += 1 }
      positions.insert([top, left])
    }
    #expect(flips > 60 && flips < 140)
    #expect(positions.count > 50)
  }

  @Test func oversizedCropThrows() {
    let augmentation = Augmentation(randomCrop: 40, padding: 2, horizontalFlip: false)
    var rng = RandomGenerator(seed: 1)
    let error = dataError { _ = try augmentation.apply(patternImage(width: 32, height: 32), rng: &rng, source: "a.png") }
    #expect(error?.source == "a.png")
    #expect(dataError { try Augmentation(cropHeight: 3).validate() } != nil)
    #expect(dataError { try Augmentation(flipProbability: 2).validate() } != nil)
  }
}
