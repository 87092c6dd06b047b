/// A failure reading or writing an HDF5 file, naming the file and the object involved.
public struct HDF5Error: Error, CustomStringConvertible, Equatable {
  public var file: String
  public var object: String?
  public var message: String

  public init(file: String, object: String? = nil, _ message: String) {
    self.file = file
    self.object = object
    self.message = message
  }

  public var description: String {
    if let object { return "\(file): \(object): \(message)" }
    return "\(file): \(message)"
  }
}
