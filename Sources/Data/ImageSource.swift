/// An indexed collection of decoded 8-bit images with labels (-1 when unknown); combine it with
/// `Augmentation` and `Preprocessing` in an `ImagePipeline` to get a `Dataset`.
/// Implementations must be safe to call from several threads at once.
public protocol ImageSource: Sendable {
  var count: Int { get }
  var classNames: [String] { get }
  /// The image at `index` (0..<count). Corrupt data throws a `DataError` naming `source(at:)`.
  func image(at index: Int) throws -> (Image, label: Int)
  /// Where image `index` comes from, for messages: a file path or `"file#index"`.
  func source(at index: Int) -> String
}
