import Foundation
import Layers
import TensorCore

/// Helpers shared by the recipes in `recipes/`: the data root and figure printing.
public enum RecipeSupport {
  /// The shared data root: the explicit option, else $QAT_DATA, else ../shared.
  public static func dataRoot(_ option: String?) -> String {
    option ?? ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared"
  }

  /// Prints a labelled JSON object (one line) so every figure can be grepped from the log.
  public static func report(_ label: String, _ fields: [String: Any]) {
    var object = fields
    object["event"] = label
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
      print(String(decoding: data, as: UTF8.self))
    }
    fflush(nil)
  }

  /// Three decimals for printing.
  public static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
