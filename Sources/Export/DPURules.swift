import DeployFormat
import TensorCore

/// The DPU's rules, checked on an exported graph node by node (independently of the code that
/// enforces them): with p the fix positions of a node's tensors,
/// - conv2d / linear: shift_cut = p_w + p_in − p_out in [0, 16], shift_bias = p_w + p_in − p_b in
///   [min(0, shift_cut − 16), 16];
/// - add / sub: shift_read = max p_in − min p_in in [0, 7], shift_write = min p_in − p_out in [−7, 25];
///   mul: shift_write = Σ p_in − p_out in [0, 32];
/// - concat: every input at the output's position (align_concat); max / average pooling, pad,
///   slice, upsampling and reshapes: output at the input's position;
/// - average pooling: sum · k / 2^n with the DPU's (k, n) for the window;
/// - hard sigmoid: p_in in [0, 15], p_out ≥ 7, 14 + p_in − p_out in [0, 31]; hard swish: p_in in
///   [0, 15], p_in + 7 − p_out in [0, 15]; LeakyReLU only at slope 26/256 (its op).
/// Table lookups are not DPU instructions (they run on the CPU) and have no rule.
public enum DPURules {
  /// Which rules the configuration asks for (the vai_q switches that turn some off).
  public struct Options: Sendable {
    public var alignConcat = true, alignPool = true, shiftCut = true, shiftBias = true
    public init() {}
  }

  public static func violations(_ g: DeployGraph, _ options: Options = Options()) throws -> [String] {
    let (alignConcat, alignPool) = (options.alignConcat, options.alignPool)
    var found: [String] = []
    for n in g.nodes {
      func p(_ t: String) throws -> Int {
        guard let f = g.tensors[t]?.fractionalBits else { throw DeployError("node \(n.name): tensor \(t) has no format") }
        return f
      }
      func check(_ ok: Bool, _ rule: @autoclosure () -> String) { if !ok { found.append("node \(n.name) (\(n.op.rawValue)): \(rule())") } }
      let out = try p(n.output)
      let ins = try n.inputs.map(p)
      switch n.op {
      case .conv2d, .linear, .convTranspose:
        guard let fw = n.weightFractionalBits else { continue }  // multiplier requantization: no DPU shifts
        let cut = fw + ins[0] - out
        check(!options.shiftCut || (0...16).contains(cut), "shift_cut \(cut) outside [0, 16]")
        check(n.shiftCut == nil || n.shiftCut == cut, "shift_cut attribute \(n.shiftCut!) differs from the positions' \(cut)")
        if options.shiftBias, let fb = n.biasFractionalBits {
          let bias = fw + ins[0] - fb
          check((min(0, cut - 16)...16).contains(bias), "shift_bias \(bias) outside [\(min(0, cut - 16)), 16]")
        }
      case .add, .sub:
        let read = ins.max()! - ins.min()!, write = ins.min()! - out
        check((0...7).contains(read), "shift_read \(read) outside [0, 7]")
        check((-7...25).contains(write), "shift_write \(write) outside [-7, 25]")
        check(n.shiftRead == read && n.shiftWrite == write, "shift attributes \(n.shiftRead.map(String.init) ?? "-") / \(n.shiftWrite.map(String.init) ?? "-") differ from the positions' \(read) / \(write)")
      case .mul:
        let write = ins.reduce(0, +) - out
        check((0...32).contains(write), "shift_write \(write) outside [0, 32]")
        check(n.shiftWrite == write, "shift_write attribute differs from the positions' \(write)")
      case .concat:
        if alignConcat { check(ins.allSatisfy { $0 == out }, "input positions \(ins) differ from the output's \(out)") }
      case .maxPool, .slice, .upsample, .flatten, .reshape, .transpose, .pad:
        check(ins[0] == out, "output position \(out) differs from the input's \(ins[0])")
      case .avgPool, .globalAvgPool:
        if alignPool { check(ins[0] == out, "output position \(out) differs from the input's \(ins[0])") }
        let kernel: (Int, Int)
        if let pool = n.pool { kernel = (pool.kernelH, pool.kernelW) } else {
          guard let s = g.tensors[n.inputs[0]]?.shape, s.count == 3 else { throw DeployError("node \(n.name): global pooling of a non-[C, H, W] tensor") }
          kernel = (s[1], s[2])
        }
        let expected = averagingFactor(kernel)
        check(n.poolMultiplier == expected.k && n.poolShift == expected.n,
              "pool factor \(n.poolMultiplier ?? 0)/2^\(n.poolShift ?? 0) is not the DPU's \(expected.k)/2^\(expected.n) for \(kernel.0)x\(kernel.1)")
      case .hardSigmoid:
        check((0...15).contains(ins[0]), "input position \(ins[0]) outside [0, 15]")
        check(out >= 7, "output position \(out) below 7")
        check((0...31).contains(14 + ins[0] - out), "shift_sigmoid \(14 + ins[0] - out) outside [0, 31]")
      case .hardSwish:
        check((0...15).contains(ins[0]), "input position \(ins[0]) outside [0, 15]")
        check((0...15).contains(ins[0] + 7 - out), "shift_swish \(ins[0] + 7 - out) outside [0, 15]")
      case .leakyRelu:
        check(n.activation == .leakyRelu, "leaky ReLU without the DPU's slope")
      case .input, .relu, .relu6, .lookup:
        break
      }
    }
    return found
  }

  /// The DPU's k / 2^n for a kh × kw window, written out from Vitis AI's rules: the fixed pairs,
  /// powers of two exact, otherwise the k = round(2^n / N) closest to 1 / N over n < ⌈log2(128·N)⌉.
  public static func averagingFactor(_ kernel: (Int, Int)) -> (k: Int, n: Int) {
    switch kernel {
    case (3, 3): return (7, 6)
    case (5, 5): return (10, 8)
    case (6, 6), (3, 6), (6, 3): return (7, 8)
    case (7, 7): return (21, 10)
    case (14, 14): return (21, 12)
    default: break
    }
    let area = kernel.0 * kernel.1
    if area & (area - 1) == 0 { return (1, area.trailingZeroBitCount) }
    var best = (k: 1, n: 0), bestError = Double.infinity
    var n = 0
    while Double(1 << n) < Double(128 * area) {
      let k = (Double(1 << n) / Double(area)).rounded()
      let error = abs(k / Double(1 << n) - 1 / Double(area))
      if k > 0 && error < bestError { (best, bestError) = ((Int(k), n), error) }
      n += 1
    }
    return best
  }
}
