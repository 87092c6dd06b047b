import ArgumentParser
import Foundation

/// Prints one JSON object with sorted keys (numbers as given).
func printJSON(_ object: [String: Any]) throws {
  let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}

/// Rounds to a fixed number of decimals for display.
func rounded(_ x: Double, _ decimals: Int) -> Double {
  let p = pow(10.0, Double(decimals))
  return (x * p).rounded() / p
}

/// One "warning: …" line on standard error (what an option or a file left without effect).
func warn(_ text: String) {
  FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
}

/// The largest --batch-size a command accepts (a batch of 4,096 224×224 RGB images is 2.4 GB).
let maxBatchSize = 4096

/// Throws unless an integer option lies in `range`, naming the option and the value.
func requireOption(_ name: String, _ value: Int?, in range: ClosedRange<Int>) throws {
  if let value, !range.contains(value) {
    throw ValidationError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
  }
}
