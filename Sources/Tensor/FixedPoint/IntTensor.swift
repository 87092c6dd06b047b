/// Integer codes of a fixed-point tensor: value = code · 2^-format.fractionalBits. Row-major
/// (NCHW for images), codes stored as Int16 (every format has at most 16 bits).
public struct IntTensor: Sendable, Equatable {
  public var shape: Shape
  public var codes: [Int16]
  public var format: FixedPointFormat

  public init(shape: Shape, codes: [Int16], format: FixedPointFormat) {
    precondition(codes.count == shape.count, "IntTensor: \(codes.count) codes for shape \(shape)")
    self.shape = shape
    self.codes = codes
    self.format = format
  }

  public init(zeros shape: Shape, format: FixedPointFormat) {
    self.init(shape: shape, codes: [Int16](repeating: 0, count: shape.count), format: format)
  }

  /// Codes to be written entirely by a kernel (contents undefined until then).
  init(uninitialized shape: Shape, format: FixedPointFormat) {
    let n = shape.count
    self.init(shape: shape, codes: [Int16](unsafeUninitializedCapacity: n) { _, count in count = n }, format: format)
  }

  /// The float values the codes stand for (exact: codes fit in 16 bits).
  public func dequantized() -> Tensor {
    let s = Float(format.scale)
    return Tensor(codes.map { Float($0) * s }, shape: shape)
  }

  /// The codes of a tensor whose values lie on this format's grid (throws if one does not).
  public init(onGrid t: Tensor, format: FixedPointFormat) throws {
    let inv = Double(sign: .plus, exponent: format.fractionalBits, significand: 1)
    var codes = [Int16](repeating: 0, count: t.count)
    let values = t.scalars
    for (i, v) in values.enumerated() {
      let q = Double(v) * inv
      guard q == q.rounded(), q >= Double(format.qmin), q <= Double(format.qmax) else {
        throw FixedPointError("value \(v) at flat index \(i) is not on the grid of \(format)")
      }
      codes[i] = Int16(q)
    }
    self.init(shape: t.shape, codes: codes, format: format)
  }
}

/// A value that does not fit a fixed-point format, or operands outside a kernel's exact range.
public struct FixedPointError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
