/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
/// Every random operation in swift-qat takes one of these explicitly; there is no global generator.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
  public private(set) var state: [UInt64]

  public init(seed: UInt64) {
    var s = seed
    func splitmix() -> UInt64 {
      s &+= 0x9E37_79B9_7F4A_7C15
      var z = s
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = [splitmix(), splitmix(), splitmix(), splitmix()]
  }

  /// Restores a generator from a saved state (for checkpoints).
  public init(state: [UInt64]) {
    precondition(state.count == 4 && state.contains { $0 != 0 }, "RandomGenerator state must be 4 words, not all zero")
    self.state = state
  }

  public mutating func next() -> UInt64 {
    let result = rotl(state[1] &* 5, 7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = rotl(state[3], 45)
    return result
  }

  private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// A new independent generator derived from this one (advances this one by one step).
  public mutating func split() -> RandomGenerator { RandomGenerator(seed: next()) }

  /// Uniform in [0, 1) with 24 random bits.
  public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

  /// Uniform in [0, 1) with 53 random bits.
  public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

  /// Uniform integer in 0..<bound, without modulo bias.
  public mutating func nextInt(below bound: Int) -> Int {
    precondition(bound > 0)
    return Int(next(upperBound: UInt64(bound)))
  }

  /// Standard normal sample (Box–Muller, one value per call; deterministic).
  public mutating func nextNormal() -> Float {
    var u1 = nextDouble()
    while u1 <= 0 { u1 = nextDouble() }
    let u2 = nextDouble()
    return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
  }

  /// A uniformly random permutation of 0..<n (Fisher–Yates).
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n > 1 {
      for i in stride(from: n - 1, to: 0, by: -1) {
        let j = nextInt(below: i + 1)
        p.swapAt(i, j)
      }
    }
    return p
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
