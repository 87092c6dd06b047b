import TensorCore

extension QuantizedModel {
  /// Tensors whose fixed position (`fixed_fractional_bits`, Micron DLA without varfp) is so far
  /// from the position their calibration data calls for that the tensor keeps almost nothing: at
  /// least `bits − 1` positions finer, so it saturates at 1/2^(bits−1) of its range or less, or at
  /// least `bits − 1` positions coarser, so its largest values reach at most one code. One line per
  /// tensor, for a warning; empty when every tensor fits or nothing was fixed. Call after
  /// calibration.
  public func fixedPositionMisfits() -> [String] {
    quantizers.compactMap { q -> String? in
      guard let fixed = q.spec.fixedFractionalBits, q.observer.count > 0,
            case .fixedPoint(let natural)? = try? q.observer.format() else { return nil }
      let gap = fixed - natural.fractionalBits, bits = q.spec.bits
      guard abs(gap) >= bits - 1 else { return nil }
      let what = gap > 0 ? "it saturates at 1/2^\(gap) of its range" : "its largest values round to at most 1 code"
      return "\(q.label): fix position \(fixed) on \(bits) bits, but its values call for \(natural.fractionalBits); \(what)"
    }
  }
}
