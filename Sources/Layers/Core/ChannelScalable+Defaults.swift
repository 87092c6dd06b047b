import Autograd
import TensorCore

/// Per-channel views of a weight laid out [out, in/groups, taps...] (Linear: groups 1, no taps):
/// ranges and rescaling of output channels (rows) and input channels (columns, per group).
public enum ChannelLayout {
  /// max |w| per output channel.
  public static func outputRanges(_ w: Tensor) -> [Float] {
    let out = w.shape[0], per = w.count / out, v = w.scalars
    return (0..<out).map { o in (0..<per).reduce(Float(0)) { max($0, abs(v[o * per + $1])) } }
  }

  /// max |w| per input channel (all groups).
  public static func inputRanges(_ w: Tensor, groups: Int) -> [Float] {
    var r = [Float](repeating: 0, count: w.shape[1] * groups)
    forEachInput(w, groups: groups) { _, channel, value in r[channel] = max(r[channel], abs(value)) }
    return r
  }

  /// Output channel c times s_c.
  public static func scaledOutputs(_ w: Tensor, by s: [Float]) -> Tensor {
    let per = w.count / w.shape[0]
    var v = w.scalars
    for i in v.indices { v[i] *= s[i / per] }
    return Tensor(v, shape: w.shape)
  }

  /// Input channel c times s_c.
  public static func scaledInputs(_ w: Tensor, by s: [Float], groups: Int) -> Tensor {
    var v = w.scalars
    forEachInput(w, groups: groups) { index, channel, _ in v[index] *= s[channel] }
    return Tensor(v, shape: w.shape)
  }

  /// Per output channel, Σ over its input channels c and taps of w · v[c] (the output shift a
  /// constant input v adds without padding).
  public static func inputWeightedSums(_ w: Tensor, by v: [Float], groups: Int) -> [Float] {
    let per = w.count / w.shape[0]
    var sums = [Float](repeating: 0, count: w.shape[0])
    forEachInput(w, groups: groups) { index, channel, value in sums[index / per] += value * v[channel] }
    return sums
  }

  /// Visits every weight element with the global input channel it reads.
  static func forEachInput(_ w: Tensor, groups: Int, _ body: (Int, Int, Float) -> Void) {
    let out = w.shape[0], inPerGroup = w.shape[1]
    let taps = w.count / (out * inPerGroup), outPerGroup = out / groups
    let v = w.scalars
    for o in 0..<out {
      let group = o / outPerGroup
      for c in 0..<inPerGroup {
        let base = (o * inPerGroup + c) * taps
        for t in 0..<taps { body(base + t, group * inPerGroup + c, v[base + t]) }
      }
    }
  }
}

/// For weights laid out [out, in/groups, taps...] only (a precondition checks the output axis).
extension ChannelScalable {
  public func outputChannelRanges() -> [Float] {
    precondition(outputChannelAxis == 0, "\(kind): the ChannelScalable defaults need output channels on weight axis 0")
    return ChannelLayout.outputRanges(weight.value)
  }
  public func inputChannelRanges() -> [Float] { ChannelLayout.inputRanges(weight.value, groups: groups) }

  public func divideOutputChannels(by s: [Float]) {
    precondition(outputChannelAxis == 0, "\(kind): the ChannelScalable defaults need output channels on weight axis 0")
    weight.value = ChannelLayout.scaledOutputs(weight.value, by: s.map { 1 / $0 })
    if let b = bias { b.value = Tensor(zip(b.value.scalars, s).map { $0 / $1 }) }
  }

  public func multiplyInputChannels(by s: [Float]) {
    weight.value = ChannelLayout.scaledInputs(weight.value, by: s, groups: groups)
  }
}
