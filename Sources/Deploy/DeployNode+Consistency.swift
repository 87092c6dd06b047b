import TensorCore

/// What a deploy node stores besides its formats must agree with what the formats and shapes
/// imply: the simulator derives every shift from the positions and every shape from the geometry,
/// so a stored value that disagrees (an edited or corrupted file) is refused here rather than
/// ignored, and no kernel ever sees a geometry its output tensor does not have.
extension DeployNode {
  func validateConsistency(_ g: DeployGraph, _ need: (Bool, String) throws -> Void) throws {
    guard let y = g.tensors[output] else { return }
    let xs = inputs.compactMap { g.tensors[$0] }
    guard xs.count == inputs.count else { return }
    switch op {
    case .conv2d:
      if let c = conv, let k = kernel, k.count == 2, let x = xs.first, x.shape.count == 3, y.shape.count == 3 {
        let (oh, ow) = c.outputSize(inputH: x.shape[1], inputW: x.shape[2], kernelH: k[0], kernelW: k[1])
        try need(oh == y.shape[1] && ow == y.shape[2],
                 "output \(y.shape) does not match the convolution of \(x.shape) with kernel \(k), stride \(c.strideH)x\(c.strideW), padding \((c.padTop, c.padLeft, c.padBottom, c.padRight)) (\(oh) x \(ow))")
      }
    case .slice:
      guard let ranges = slice, let x = xs.first else { return }
      try need(ranges.count == x.shape.count, "\(ranges.count) slice ranges for the \(x.shape.count) axes of \(x.shape)")
      var shape: [Int] = []
      for (axis, r) in ranges.enumerated() {
        try need(r.step >= 1, "slice step \(r.step) on axis \(axis) must be at least 1")
        // the elements read are start, start + step, ... below end; the last must lie in the axis
        let count = (r.end - r.start + r.step - 1) / r.step
        try need(0 <= r.start && r.start < r.end && r.start + (count - 1) * r.step < x.shape[axis],
                 "slice [\(r.start), \(r.end)) step \(r.step) on axis \(axis) reads outside the input's 0..<\(x.shape[axis])")
        shape.append(count)
      }
      try need(shape == y.shape, "slices of \(x.shape) give \(shape), not the output's \(y.shape)")
    case .pad:
      guard let before = padBefore, let after = padAfter, let x = xs.first else { return }
      try need(before.count == x.shape.count, "\(before.count) pad amounts for the \(x.shape.count) axes of \(x.shape)")
      try need((before + after).allSatisfy { $0 >= 0 }, "pad amounts \(before) / \(after) must not be negative")
      let shape = zip(x.shape, zip(before, after)).map { $0 + $1.0 + $1.1 }
      try need(shape == y.shape, "padding \(x.shape) by \(before) / \(after) gives \(shape), not the output's \(y.shape)")
    case .add, .sub:
      let p = xs.map(\.fractionalBits)
      let (read, write) = (p.max()! - p.min()!, p.min()! - y.fractionalBits)
      try need(shiftRead == nil || shiftRead == read, "shift_read \(shiftRead ?? 0) disagrees with the positions' \(read)")
      try need(shiftWrite == nil || shiftWrite == write, "shift_write \(shiftWrite ?? 0) disagrees with the positions' \(write)")
    case .mul:
      let write = xs.map(\.fractionalBits).reduce(0, +) - y.fractionalBits
      try need(shiftWrite == nil || shiftWrite == write, "shift_write \(shiftWrite ?? 0) disagrees with the positions' \(write)")
    case .maxPool:
      try validatePoolShape(xs, y, need)
    case .avgPool, .globalAvgPool:
      try validatePoolShape(xs, y, need)
      let window: (Int, Int)
      if let p = pool { window = (p.kernelH, p.kernelW) } else {
        guard let x = xs.first, x.shape.count == 3 else { return }
        window = (x.shape[1], x.shape[2])
      }
      let expected = AveragePoolScaling.dpu(kernelH: window.0, kernelW: window.1)
      try need(poolMultiplier == expected.multiplier && poolShift == expected.shift,
               "pool factor \(poolMultiplier ?? 0) / 2^\(poolShift ?? 0) is not \(expected.multiplier) / 2^\(expected.shift), the factor for a \(window.0)x\(window.1) window")
    case .relu, .relu6, .leakyRelu, .hardSigmoid, .hardSwish, .lookup:
      try need(y.shape == xs[0].shape, "output \(y.shape) differs from the input's \(xs[0].shape)")
    case .concat:
      let rank = xs[0].shape.count
      guard let a = axis, (-rank..<rank).contains(a) else { throw DeployError("node \(name) (concat): axis \(axis ?? 0) outside the \(rank) axes") }
      let k = a < 0 ? a + rank : a
      try need(xs.allSatisfy { $0.shape.count == rank && zip($0.shape, xs[0].shape).enumerated().allSatisfy { $0.offset == k || $0.element.0 == $0.element.1 } },
               "inputs \(xs.map(\.shape)) differ off the concatenation axis \(k)")
      var shape = xs[0].shape
      shape[k] = xs.map { $0.shape[k] }.reduce(0, +)
      try need(shape == y.shape, "concatenating \(xs.map(\.shape)) gives \(shape), not the output's \(y.shape)")
    case .upsample:
      let x = xs[0].shape, s = scale ?? 0
      try need(x.count == 3 && y.shape == [x[0], x[1] * s, x[2] * s], "upsampling \(x) by \(s) does not give the output's \(y.shape)")
    case .flatten:
      try need(y.shape == [xs[0].shape.reduce(1, *)], "flattening \(xs[0].shape) does not give the output's \(y.shape)")
    case .reshape:
      try need(y.shape.reduce(1, *) == xs[0].shape.reduce(1, *), "reshaping \(xs[0].shape) to \(y.shape) changes the number of values")
      if let target = shape {
        let known = target.filter { $0 != -1 }.reduce(1, *)
        try need(target.filter { $0 == -1 }.count <= 1 && target.allSatisfy { $0 >= 1 || $0 == -1 } && known > 0
                   && target.map { $0 == -1 ? xs[0].shape.reduce(1, *) / known : $0 } == y.shape,
                 "shape \(target) does not give the output's \(y.shape)")
      }
    case .transpose:
      if let p = perm, p.count == xs[0].shape.count, p.sorted() == Array(0..<p.count) {
        try need(p.map { xs[0].shape[$0] } == y.shape, "transposing \(xs[0].shape) by \(p) does not give the output's \(y.shape)")
      } else {
        throw DeployError("node \(name) (transpose): permutation \(perm ?? []) for the \(xs[0].shape.count) axes of \(xs[0].shape)")
      }
    case .input, .linear, .convTranspose: break
    }
    if op == .globalAvgPool, xs[0].shape.count == 3 {
      try need(y.shape == [xs[0].shape[0], 1, 1] || y.shape == [xs[0].shape[0]], "global pooling of \(xs[0].shape) does not give the output's \(y.shape)")
    }
    if [.conv2d, .linear, .convTranspose].contains(op), let fw = weightFractionalBits, let x = xs.first {
      let cut = fw + x.fractionalBits - y.fractionalBits
      try need(shiftCut == nil || shiftCut == cut, "shift_cut \(shiftCut ?? 0) disagrees with the positions' \(cut) (weight \(fw) + input \(x.fractionalBits) − output \(y.fractionalBits))")
      if let fb = biasFractionalBits {
        let b = fw + x.fractionalBits - fb
        try need(shiftBias == nil || shiftBias == b, "shift_bias \(shiftBias ?? 0) disagrees with the positions' \(b) (weight \(fw) + input \(x.fractionalBits) − bias \(fb))")
      } else {
        try need(shiftBias == nil, "shift_bias without a bias position")
      }
    }
    if let b = weightBits { try need((2...16).contains(b), "weight_bits \(b) outside 2...16") }
    if let b = biasBits { try need((2...32).contains(b), "bias_bits \(b) outside 2...32") }
    if let f = weightFractionalBits { try need(FixedPointFormat.fractionalBitsRange.contains(f), "weight_fractional_bits \(f) outside \(FixedPointFormat.fractionalBitsRange)") }
    if let f = biasFractionalBits { try need(FixedPointFormat.fractionalBitsRange.contains(f), "bias_fractional_bits \(f) outside \(FixedPointFormat.fractionalBitsRange)") }
  }

  func validatePoolShape(_ xs: [DeployTensor], _ y: DeployTensor, _ need: (Bool, String) throws -> Void) throws {
    guard let p = pool, let x = xs.first, x.shape.count == 3, y.shape.count == 3 else { return }
    let (oh, ow) = p.outputSize(x.shape[1], x.shape[2])
    try need([x.shape[0], oh, ow] == y.shape, "output \(y.shape) does not match pooling \(x.shape) with a \(p.kernelH)x\(p.kernelW) window (\(x.shape[0]) x \(oh) x \(ow))")
  }
}
