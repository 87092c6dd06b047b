import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the `qat` executable built beside the test binary (`swift build --build-tests` and
/// `swift test` build it), with a time limit: a command that hangs is killed and reported.
enum CLI {
  static let qat: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("qat").path
  }()

  struct Result {
    var status: Int32
    /// Ended by a signal (a trap, or the time limit's SIGKILL), not by exit.
    var signalled: Bool
    var timedOut: Bool
    var stdout: String
    var stderr: String
    var summary: String { "status \(status)\(signalled ? " (signal)" : "")\(timedOut ? " (timed out)" : ""); stderr: \(stderr.prefix(600))" }
  }

  static func start(_ arguments: [String]) throws -> (Process, Pipe, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: qat)
    p.arguments = arguments
    let (out, err) = (Pipe(), Pipe())
    (p.standardOutput, p.standardError) = (out, err)
    try p.run()
    return (p, out, err)
  }

  static func run(_ arguments: [String], timeLimit: Double = 120) throws -> Result {
    let (p, out, err) = try start(arguments)
    let deadline = Date().addingTimeInterval(timeLimit)
    // read both pipes on other threads so a chatty child never blocks on a full pipe
    let stdoutData = Reader(out.fileHandleForReading), stderrData = Reader(err.fileHandleForReading)
    var timedOut = false
    while p.isRunning {
      if Date() > deadline { kill(p.processIdentifier, SIGKILL); timedOut = true; break }
      usleep(10_000)
    }
    p.waitUntilExit()
    return Result(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                  stdout: stdoutData.text(), stderr: stderrData.text())
  }

  /// Drains a pipe on a background thread.
  final class Reader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ handle: FileHandle) {
      Thread.detachNewThread { [self] in
        data = handle.readDataToEndOfFile()
        done.signal()
      }
    }
    func text() -> String {
      done.wait()
      return String(decoding: data, as: UTF8.self)
    }
  }
}
