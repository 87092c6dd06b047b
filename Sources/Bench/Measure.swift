#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic wall-clock seconds.
func now() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Wall times of `repeats` (at least one) runs of body.
func sampleSeconds(repeats: Int, _ body: () -> Void) -> [Double] {
  (0..<max(1, repeats)).map { _ in
    let t0 = now()
    body()
    return now() - t0
  }
}

func median(_ times: [Double]) -> Double { times.sorted()[times.count / 2] }

/// Median wall time of `repeats` runs of body, after one warm-up run.
func medianSeconds(repeats: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
  for _ in 0..<warmup { body() }
  return median(sampleSeconds(repeats: repeats, body))
}

/// Waits until OpenBLAS's worker threads stop busy-waiting after a multi-threaded GEMM (they spin
/// for up to 2^28 cycles by default and would steal a core from the next measurement).
func settle() { usleep(300_000) }

/// Medians of a reference and of our kernel over `rounds` alternating blocks of `repeats` runs
/// each, every block after `settle()` (OpenBLAS's and OpenMP's idle threads spin for a while and
/// would steal a core from the next block), so the machine's speed drifting during the run
/// affects both sides alike.
func interleavedMedianSeconds(rounds: Int = 3, repeats: Int, reference: () -> Void, ours: () -> Void)
  -> (reference: Double, ours: Double) {
  reference()
  ours()
  var tr: [Double] = [], to: [Double] = []
  for _ in 0..<rounds {
    settle()
    tr += sampleSeconds(repeats: repeats, reference)
    settle()
    to += sampleSeconds(repeats: repeats, ours)
  }
  return (median(tr), median(to))
}

/// Median wall times of two bodies measured alternately (so drift and noise hit both alike).
func pairedMedianSeconds(repeats: Int, _ a: () throws -> Void, _ b: () throws -> Void) rethrows -> (Double, Double) {
  try a()
  try b()
  var ta: [Double] = [], tb: [Double] = []
  for _ in 0..<max(1, repeats) {
    var t0 = now()
    try a()
    ta.append(now() - t0)
    t0 = now()
    try b()
    tb.append(now() - t0)
  }
  return (median(ta), median(tb))
}

/// One JSON line: keys in the given order, numbers rounded to 4 significant decimals.
func emit(_ fields: [(String, Any)]) {
  let parts = fields.map { key, value -> String in
    let v: String
    switch value {
    case let d as Double: v = d.isFinite ? formatNumber(d) : "null"
    case let f as Float: v = f.isFinite ? formatNumber(Double(f)) : "null"
    case let i as Int: v = String(i)
    case let b as Bool: v = b ? "true" : "false"
    case let s as String: v = "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    default: v = "\"\(value)\""
    }
    return "\"\(key)\": \(v)"
  }
  print("{" + parts.joined(separator: ", ") + "}")
  fflush(nil)
}

func formatNumber(_ d: Double) -> String {
  if d == d.rounded() && Swift.abs(d) < 1e15 { return String(Int64(d)) }
  let magnitude = Swift.abs(d)
  let decimals = magnitude >= 100 ? 1 : magnitude >= 1 ? 3 : 5
  var s = String(format: "%.\(decimals)f", d)
  while s.hasSuffix("0") { s.removeLast() }
  if s.hasSuffix(".") { s.removeLast() }
  return s
}

import Foundation
