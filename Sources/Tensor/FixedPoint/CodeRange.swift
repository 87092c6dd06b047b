/// The integer codes of a `bits`-bit format: two's complement when signed (narrow range leaves out
/// the most negative code, arch_type DPUCADF8H), [0, 2^bits − 1] when unsigned. The one formula
/// behind every qmin / qmax (fixed-point and affine formats, quantizer specs).
public struct CodeRange: Hashable, Sendable {
  public let qmin: Int
  public let qmax: Int

  public init(bits: Int, signed: Bool, narrowRange: Bool) {
    qmin = signed ? -(1 << (bits - 1)) + (narrowRange ? 1 : 0) : 0
    qmax = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1
  }
}
