import Foundation
import TensorCore

/// A value known while importing: an initializer, a Constant, or the result of folding a shape
/// computation. Integer values may hold `ConstantTensor.batch`, the symbolic batch size that
/// `Shape` of a runtime tensor yields; arithmetic on it is a dynamic shape the importer cannot fold.
struct ConstantTensor: Equatable {
  enum Storage: Equatable {
    case float([Float])
    case int([Int64])
  }

  static let batch = Int64.min + 1
  /// Largest constant the importer materialises (elements).
  static let maxElements = 1 << 29

  var shape: [Int]
  var storage: Storage

  init(shape: [Int], floats: [Float]) {
    precondition(shape.reduce(1, *) == floats.count)
    (self.shape, storage) = (shape, .float(floats))
  }

  init(shape: [Int], ints: [Int64]) {
    precondition(shape.reduce(1, *) == ints.count)
    (self.shape, storage) = (shape, .int(ints))
  }

  var count: Int { shape.reduce(1, *) }
  var isFloat: Bool { if case .float = storage { true } else { false } }

  var floats: [Float] {
    switch storage {
    case .float(let v): v
    case .int(let v): v.map { Float($0) }
    }
  }

  /// Integer values; throws for a symbolic batch size where a concrete one is needed (`what`).
  func ints(_ what: @autoclosure () -> String, allowBatch: Bool = false) throws -> [Int64] {
    switch storage {
    case .float(let v):
      guard v.allSatisfy({ $0.isFinite && $0 == $0.rounded(.towardZero) && abs($0) < 9e15 }) else {
        throw ONNXError("\(what()): expected integers, found \(v.prefix(4))")
      }
      return v.map { Int64($0) }
    case .int(let v):
      if !allowBatch, v.contains(Self.batch) {
        throw ONNXError("\(what()): depends on the batch size, a dynamic shape the importer cannot fold")
      }
      return v
    }
  }

  var tensor: Tensor { Tensor(floats, shape: Shape(shape)) }

  /// The values as Int (shapes, indices), refusing the symbolic batch.
  func intValues(_ what: @autoclosure () -> String) throws -> [Int] {
    try ints(what()).map { v in
      guard v >= Int64(Int.min / 2), v <= Int64(Int.max / 2) else { throw ONNXError("\(what()): value \(v) out of range") }
      return Int(v)
    }
  }
}

extension ConstantTensor {
  /// Decodes an initializer or attribute tensor, checking that its data holds exactly the elements
  /// its dims promise before allocating anything.
  init(_ t: Onnx_TensorProto, file: ONNXFile, cache: inout [String: Data]) throws {
    let name = "\(file.path): tensor '\(t.name)'"
    guard t.dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Self.maxElements) }) else {
      throw ONNXError("\(name): dims \(t.dims) must be non-negative and at most \(Self.maxElements)")
    }
    var count = 1, nonZero = 1
    for d in t.dims {
      let (p, overflow) = nonZero.multipliedReportingOverflow(by: max(Int(d), 1))
      guard !overflow, p <= Self.maxElements else { throw ONNXError("\(name): dims \(t.dims) hold more than \(Self.maxElements) elements") }
      nonZero = p
      count *= Int(d)
    }
    let shape = t.dims.map(Int.init)
    guard let type = Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) else {
      throw ONNXError("\(name): unknown data type \(t.dataType)")
    }
    var raw: Data? = t.hasRawData ? t.rawData : nil
    if t.dataLocation == .external { raw = try file.externalData(t, cache: &cache) }
    if let raw {
      try self.init(raw: raw, type: type, shape: shape, count: count, name: name)
      return
    }
    func need(_ n: Int) throws {
      guard n == count else { throw ONNXError("\(name): holds \(n) values for dims \(t.dims) (\(count) elements)") }
    }
    switch type {
    case .float:
      try need(t.floatData.count)
      self.init(shape: shape, floats: t.floatData)
    case .double:
      try need(t.doubleData.count)
      self.init(shape: shape, floats: t.doubleData.map { Float($0) })
    case .int64:
      try need(t.int64Data.count)
      self.init(shape: shape, ints: t.int64Data)
    case .int32, .int16, .int8, .uint16, .uint8, .bool:
      try need(t.int32Data.count)
      self.init(shape: shape, ints: t.int32Data.map(Int64.init))
    case .float16:
      try need(t.int32Data.count)
      self.init(shape: shape, floats: t.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) })
    case .uint32, .uint64:
      try need(t.uint64Data.count)
      guard t.uint64Data.allSatisfy({ $0 <= UInt64(Int64.max) }) else { throw ONNXError("\(name): unsigned value beyond Int64") }
      self.init(shape: shape, ints: t.uint64Data.map { Int64($0) })
    default:
      throw ONNXError("\(name): data type \(type) is not supported (numeric tensors only)")
    }
  }

  /// Little-endian fixed-width elements.
  init(raw: Data, type: Onnx_TensorProto.DataType, shape: [Int], count: Int, name: String) throws {
    let width: Int
    switch type {
    case .float, .int32, .uint32: width = 4
    case .double, .int64, .uint64: width = 8
    case .int16, .uint16, .float16: width = 2
    case .int8, .uint8, .bool: width = 1
    default: throw ONNXError("\(name): data type \(type) is not supported (numeric tensors only)")
    }
    guard raw.count == count * width else {
      throw ONNXError("\(name): \(raw.count) bytes of data for dims \(shape) of \(type) (\(count * width) expected)")
    }
    func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
      raw.withUnsafeBytes { p in (0..<count).map { T(littleEndian: p.loadUnaligned(fromByteOffset: $0 * width, as: T.self)) } }
    }
    switch type {
    case .float: self.init(shape: shape, floats: load(UInt32.self).map { Float(bitPattern: $0) })
    case .double: self.init(shape: shape, floats: load(UInt64.self).map { Float(Double(bitPattern: $0)) })
    case .float16: self.init(shape: shape, floats: load(UInt16.self).map { Float(Float16(bitPattern: $0)) })
    case .int64: self.init(shape: shape, ints: load(Int64.self))
    case .uint64:
      let v = load(UInt64.self)
      guard v.allSatisfy({ $0 <= UInt64(Int64.max) }) else { throw ONNXError("\(name): unsigned value beyond Int64") }
      self.init(shape: shape, ints: v.map { Int64($0) })
    case .int32: self.init(shape: shape, ints: load(Int32.self).map(Int64.init))
    case .uint32: self.init(shape: shape, ints: load(UInt32.self).map(Int64.init))
    case .int16: self.init(shape: shape, ints: load(Int16.self).map(Int64.init))
    case .uint16: self.init(shape: shape, ints: load(UInt16.self).map(Int64.init))
    case .int8: self.init(shape: shape, ints: load(Int8.self).map(Int64.init))
    default: self.init(shape: shape, ints: load(UInt8.self).map(Int64.init))
    }
  }
}
