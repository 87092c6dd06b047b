import Datasets
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@Suite struct ProgressBarTests {
  final class Recorder: @unchecked Sendable {
    var text = ""
    var time = 0.0
  }

  @Test func rateLimitedUpdatesAndFinalLine() {
    let r = Recorder()
    let bar = ProgressBar(total: 100, label: "eval", force: true, output: { r.text += $0 }, now: { r.time })
    for i in 1...100 {
      r.time += 0.01  // 100 items/s
      bar.update(completed: i)
    }
    bar.finish()
    bar.finish()
    let redraws = r.text.filter { $0 == "\r" }.count
    #expect(redraws >= 4 && redraws <= 6)  // one per 0.25 s over 1 s, plus the final line
    #expect(r.text.hasSuffix("\n") && r.text.filter { $0 == "\n" }.count == 1)
    #expect(r.text.contains("eval 100/100 100.0% 100.0 it/s in 0:01"))
    #expect(r.text.contains("ETA"))
  }

  @Test func silentWithoutTerminalUnlessForced() {
    let r = Recorder()
    let bar = ProgressBar(total: 10, force: false, output: { r.text += $0 }, now: { r.time })
    // Test runs usually have stderr redirected; only then is the bar silent until finish().
    bar.update(completed: 5)
    #expect(r.text.isEmpty == (isatty(2) == 0))
    bar.finish()
    #expect(r.text.hasSuffix("\n") && r.text.contains("5/10"))
    #expect(ProgressBar.line(label: "x", completed: 25, total: 100, elapsed: 5) == "x 25/100 25.0% 5.0 it/s ETA 0:15")
    #expect(ProgressBar.line(label: "", completed: 0, total: 10, elapsed: 0) == "0/10 0.0% 0.0 it/s ETA ?")
  }
}
