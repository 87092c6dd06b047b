import TensorCore

/// Minimum and maximum over every batch: the non-overflow (vai_q method 0) and min-max methods.
public struct RangeObserver: Observer {
  public let spec: QuantSpec
  public private(set) var minimum = Double.infinity
  public private(set) var maximum = -Double.infinity
  public private(set) var count = 0

  public init(spec: QuantSpec) { self.spec = spec }

  public mutating func observe(_ x: Tensor) throws {
    guard x.count > 0 else { return }
    let (lo, hi) = try finiteRange(x)
    minimum = Swift.min(minimum, Double(lo))
    maximum = Swift.max(maximum, Double(hi))
    count += x.count
  }

  public mutating func merge(_ other: any Observer) throws {
    guard let o = other as? RangeObserver else { throw mismatch(self, other) }
    minimum = Swift.min(minimum, o.minimum)
    maximum = Swift.max(maximum, o.maximum)
    count += o.count
  }

  public var needsSecondPass: Bool { false }
  public mutating func beginSecondPass() {}

  public func format() throws -> QuantFormat {
    guard count > 0 else { throw QuantizationError("no values observed") }
    return QAT.format(min: minimum, max: maximum, spec: spec)
  }
}

/// Exponential moving average of each batch's minimum and maximum (ORT's MinMax with moving
/// average; constant 0.01 by default).
public struct MovingAverageRangeObserver: Observer {
  public let spec: QuantSpec
  public let averagingConstant: Double
  public private(set) var minimum = 0.0
  public private(set) var maximum = 0.0
  public private(set) var count = 0
  private var batches = 0

  public init(spec: QuantSpec, averagingConstant: Double = 0.01) {
    precondition(averagingConstant > 0 && averagingConstant <= 1, "averaging constant must be in (0, 1]")
    self.spec = spec
    self.averagingConstant = averagingConstant
  }

  public mutating func observe(_ x: Tensor) throws {
    guard x.count > 0 else { return }
    let (lo, hi) = try finiteRange(x)
    if batches == 0 {
      (minimum, maximum) = (Double(lo), Double(hi))
    } else {
      minimum += averagingConstant * (Double(lo) - minimum)
      maximum += averagingConstant * (Double(hi) - maximum)
    }
    batches += 1
    count += x.count
  }

  /// Moving averages depend on batch order; merging continues the average with the other's
  /// values as one more batch each.
  public mutating func merge(_ other: any Observer) throws {
    guard let o = other as? MovingAverageRangeObserver else { throw mismatch(self, other) }
    guard o.batches > 0 else { return }
    if batches == 0 { self = o; return }
    minimum += averagingConstant * (o.minimum - minimum)
    maximum += averagingConstant * (o.maximum - maximum)
    batches += o.batches
    count += o.count
  }

  public var needsSecondPass: Bool { false }
  public mutating func beginSecondPass() {}

  public func format() throws -> QuantFormat {
    guard count > 0 else { throw QuantizationError("no values observed") }
    return QAT.format(min: minimum, max: maximum, spec: spec)
  }
}
