#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress display for long loops: `done/total`, percentage, items per second and the
/// estimated time left, redrawn in place with a carriage return at most every `minimumInterval`
/// seconds. Redraws happen only when stderr is a terminal, unless `force` is set. `finish()` always
/// writes one final line (so logs get a summary).
///
///     let bar = ProgressBar(total: n, label: "calibrate")
///     for i in 0..<n { work(i); bar.update(completed: i + 1) }
///     bar.finish()
public final class ProgressBar {
  public let total: Int
  public let label: String
  public let unit: String
  private let redraw: Bool
  private let minimumInterval: Double
  private let output: (String) -> Void
  private let now: () -> Double
  private let start: Double
  private var lastDraw = -Double.infinity
  private var lastLength = 0
  private var completed = 0
  private var finished = false
  /// Extra fields shown after the counts (e.g. `loss 1.234 acc 56.7% 1234 img/s`).
  private var detail = ""

  /// `output` defaults to stderr and `now` to a monotonic clock in seconds (both replaceable for tests).
  public init(total: Int, label: String = "", unit: String = "it", force: Bool = false, minimumInterval: Double = 0.25,
              output: ((String) -> Void)? = nil, now: (() -> Double)? = nil) {
    precondition(total >= 0, "ProgressBar: total must be ≥ 0, not \(total)")
    self.total = total
    self.label = label
    self.unit = unit
    self.redraw = force || StandardError.isTerminal
    self.minimumInterval = minimumInterval
    self.output = output ?? { StandardError.write($0) }
    self.now = now ?? ProgressBar.monotonicSeconds
    self.start = self.now()
  }

  /// Records progress (items done so far) and optional extra fields; redraws when enough time
  /// has passed.
  public func update(completed: Int, detail: String? = nil) {
    self.completed = min(max(completed, 0), total)
    if let detail { self.detail = detail }
    guard redraw && !finished else { return }
    let t = now()
    guard t - lastDraw >= minimumInterval else { return }
    lastDraw = t
    var line = Self.line(label: label, completed: self.completed, total: total, elapsed: t - start, unit: unit)
    if !self.detail.isEmpty { line += " " + self.detail }
    output("\r" + line + String(repeating: " ", count: max(0, lastLength - line.count)))
    lastLength = line.count
  }

  /// Writes the final line (with the total time) and ends the display. Later calls do nothing.
  public func finish() {
    guard !finished else { return }
    finished = true
    let elapsed = now() - start
    var line = Self.line(label: label, completed: completed, total: total, elapsed: elapsed, unit: unit, final: true)
    if !detail.isEmpty { line += " " + detail }
    line += String(repeating: " ", count: max(0, lastLength - line.count))
    output((redraw && lastLength > 0 ? "\r" : "") + line + "\n")
  }

  /// The text of one update, e.g. `eval 2500/10000 25.0% 1234.5 it/s ETA 0:06`.
  public static func line(label: String, completed: Int, total: Int, elapsed: Double, unit: String = "it",
                          final: Bool = false) -> String {
    let rate = elapsed > 0 ? Double(completed) / elapsed : 0
    let percent = total > 0 ? 100 * Double(completed) / Double(total) : 100
    var parts = label.isEmpty ? [] : [label]
    parts.append("\(completed)/\(total)")
    parts.append(fixed(percent, 1) + "%")
    parts.append(fixed(rate, 1) + " \(unit)/s")
    if final {
      parts.append("in " + clock(elapsed))
    } else {
      parts.append("ETA " + (rate > 0 ? clock(Double(total - completed) / rate) : "?"))
    }
    return parts.joined(separator: " ")
  }

  /// `h:mm:ss` or `m:ss`.
  static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded(.toNearestOrEven))
    let (h, m, r) = (s / 3600, (s / 60) % 60, s % 60)
    let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
    return h > 0 ? "\(h):\(two(m)):\(two(r))" : "\(m):\(two(r))"
  }

  static func fixed(_ value: Double, _ digits: Int) -> String {
    let scale = Double([1, 10, 100, 1000][min(digits, 3)])
    let scaled = Int((value * scale).rounded(.toNearestOrEven))
    let whole = scaled / Int(scale), fraction = abs(scaled % Int(scale))
    guard digits > 0 else { return "\(whole)" }
    let text = String(fraction)
    return "\(whole).\(String(repeating: "0", count: digits - text.count))\(text)"
  }

  static func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}
