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

  /// The recipes' `--schedule`: "cosine" (to zero over `totalSteps`) or "constant"; throws
  /// naming the choices for anything else.
  public static func learningRateSchedule(_ name: String, base: Float, totalSteps: Int) throws -> any LearningRateSchedule {
    switch name {
    case "cosine": CosineSchedule(base: base, totalSteps: totalSteps)
    case "constant": ConstantSchedule(base)
    default: throw TrainingError("--schedule '\(name)': expected one of \(scheduleNames.joined(separator: ", "))")
    }
  }

  public static let scheduleNames = ["cosine", "constant"]

  /// The cifar10-qat options of earlier versions, refused with what to write instead: `--bits`
  /// read weight,activation, the opposite order of `--bitwidths`.
  public static func refuseRemovedOptions(bits: String?, endBits: Int?, biasBits: Int?, residualBits: Int?) throws {
    if let bits {
      let parts = bits.split(separator: ",")
      let hint = parts.count == 2
        ? "--weight-bit \(parts[0]) --activation-bit \(parts[1]) (or --bitwidths \(parts[1]),\(parts[0]): activations first, as in qat quantize)"
        : "--weight-bit W --activation-bit A (or --bitwidths A,W)"
      throw TrainingError("--bits was removed (it read weight,activation, the opposite of --bitwidths): write \(hint)")
    }
    if let endBits { throw TrainingError("--end-bits was removed: write --first-layer-bit \(endBits) --last-layer-bit \(endBits)") }
    if let biasBits {
      throw TrainingError("--bias-bits was removed: write --bias-bit \(biasBits) (the bias width itself; the default is max(8, weight bits))")
    }
    if let residualBits { throw TrainingError("--residual-bits was removed: write --residual-bit \(residualBits)") }
  }

  /// Three decimals for printing.
  public static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
