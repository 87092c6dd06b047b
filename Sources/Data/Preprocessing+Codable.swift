/// JSON keys use the xfDNN quantizer's option names (`dims`, `transpose`, `channel_swap`, `raw_scale`,
/// `mean_value`, `input_scale`) plus `center_crop` and `std`. Decoding is strict: unknown keys and
/// contradictory options are errors; a missing `transpose` means [2, 0, 1].
extension Preprocessing: Codable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case dims
    case centerCrop = "center_crop"
    case transpose
    case channelSwap = "channel_swap"
    case rawScale = "raw_scale"
    case meanValue = "mean_value"
    case std
    case inputScale = "input_scale"
  }

  private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  public init(from decoder: Decoder) throws {
    let known = Set(CodingKeys.allCases.map(\.rawValue))
    let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { !known.contains($0) }
    guard unknown.isEmpty else {
      throw DataError(source: "Preprocessing", "unknown option(s) \(unknown.sorted()); known: \(known.sorted())")
    }
    let c = try decoder.container(keyedBy: CodingKeys.self)
    self.init(dims: try c.decodeIfPresent([Int].self, forKey: .dims),
              centerCrop: try c.decodeIfPresent([Int].self, forKey: .centerCrop),
              transpose: try c.decodeIfPresent([Int].self, forKey: .transpose) ?? [2, 0, 1],
              channelSwap: try c.decodeIfPresent([Int].self, forKey: .channelSwap),
              rawScale: try c.decodeIfPresent(Float.self, forKey: .rawScale),
              meanValue: try c.decodeIfPresent([Float].self, forKey: .meanValue),
              std: try c.decodeIfPresent([Float].self, forKey: .std),
              inputScale: try c.decodeIfPresent(Float.self, forKey: .inputScale))
    try validate()
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encodeIfPresent(dims, forKey: .dims)
    try c.encodeIfPresent(centerCrop, forKey: .centerCrop)
    try c.encode(transpose, forKey: .transpose)
    try c.encodeIfPresent(channelSwap, forKey: .channelSwap)
    try c.encodeIfPresent(rawScale, forKey: .rawScale)
    try c.encodeIfPresent(meanValue, forKey: .meanValue)
    try c.encodeIfPresent(std, forKey: .std)
    try c.encodeIfPresent(inputScale, forKey: .inputScale)
  }
}
