/// Strict JSON decoding for the files swift-qat reads: a key the type does not know is an error
/// naming it (a misspelt option must not be ignored), and decoding errors read as
/// "<key path>: <what was expected>".
public struct AnyCodingKey: CodingKey {
  public var stringValue: String
  public var intValue: Int?
  public init(stringValue: String) { self.stringValue = stringValue }
  public init(intValue: Int) { stringValue = "\(intValue)"; self.intValue = intValue }
}

extension Decoder {
  /// Throws if the keyed container here holds a key outside `known` (names as written in the file).
  public func rejectUnknownKeys(_ known: [String]) throws {
    let c = try container(keyedBy: AnyCodingKey.self)
    let allowed = Set(known)
    if let bad = c.allKeys.map(\.stringValue).sorted().first(where: { !allowed.contains($0) }) {
      throw DecodingError.dataCorrupted(DecodingError.Context(
        codingPath: codingPath + [AnyCodingKey(stringValue: bad)],
        debugDescription: "unknown key '\(bad)' (known keys: \(known.sorted().joined(separator: ", ")))"))
    }
  }

  /// The same for a type whose coding keys list every key it reads.
  public func rejectUnknownKeys<K: CodingKey & CaseIterable>(_ keys: K.Type, also extra: [String] = []) throws {
    try rejectUnknownKeys(K.allCases.map(\.stringValue) + extra)
  }
}

/// A decoding error as one line: the key path ("config.weight_bit", "tensors[3].bits") and what
/// was wrong or expected.
public func describeDecodingError(_ error: Error) -> String {
  guard let e = error as? DecodingError else { return "\(error)" }
  func path(_ keys: [any CodingKey]) -> String {
    let text = keys.reduce("") { s, k in k.intValue.map { s + "[\($0)]" } ?? (s.isEmpty ? k.stringValue : s + "." + k.stringValue) }
    return text.isEmpty ? "(top level)" : text
  }
  switch e {
  case .typeMismatch(let type, let c):
    return "\(path(c.codingPath)): expected \(describe(type)) (\(c.debugDescription))"
  case .valueNotFound(let type, let c):
    return "\(path(c.codingPath)): expected \(describe(type)), found null"
  case .keyNotFound(let key, let c):
    return "\(path(c.codingPath + [key])): required key missing"
  case .dataCorrupted(let c):
    let cause = c.underlyingError.map { " (\($0))" } ?? ""
    return "\(path(c.codingPath)): \(c.debugDescription)\(cause)"
  @unknown default:
    return "\(error)"
  }
}

private func describe(_ type: Any.Type) -> String {
  switch type {
  case is Int.Type: "an integer"
  case is Double.Type, is Float.Type: "a number"
  case is Bool.Type: "true or false"
  case is String.Type: "a string"
  default: "\(type)"
  }
}
