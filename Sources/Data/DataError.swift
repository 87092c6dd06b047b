/// An error caused by input data or by options that contradict each other: a corrupt, truncated or
/// missing file, a wrong magic number, NaN values, a shape mismatch, an out-of-range index.
///
/// `source` names what was being read: a file path, `"file#index"` for a record inside a container
/// file, or the name of an options value (for example `"Preprocessing"`).
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
  public var source: String
  public var message: String

  public init(source: String, _ message: String) {
    self.source = source
    self.message = message
  }

  public var description: String { "\(source): \(message)" }
}
