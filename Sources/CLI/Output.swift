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
