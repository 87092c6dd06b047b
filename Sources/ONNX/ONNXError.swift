/// An ONNX file that cannot be imported: malformed, using an unsupported operator or data type, or
/// with shapes that do not fit. The message names the file, the node and the tensor involved.
public struct ONNXError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
