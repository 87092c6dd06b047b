import Foundation
import Layers
import TensorCore

extension Importer {
  /// Slice with starts / ends / axes / steps as constant inputs (positive steps).
  func slice(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(3...5)
    let shape = try c.value(0).constant?.shape ?? [ConstantTensor.batchPlaceholder] + c.runtime(0).sample
    let rank = shape.count
    let starts = try c.constant(1).ints("node '\(c.name)' starts"), ends = try c.constant(2).ints("node '\(c.name)' ends")
    let axes = try (c.has(3) ? try c.ints(3) : Array(0..<starts.count)).map { try normalizedAxis($0, rank: rank, c) }
    let steps = try c.has(4) ? c.constant(4).ints("node '\(c.name)' steps") : [Int64](repeating: 1, count: starts.count)
    guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count, Set(axes).count == axes.count else {
      throw c.fail("starts, ends, axes and steps must have one entry per sliced axis, each axis once")
    }
    guard steps.allSatisfy({ $0 > 0 }) else { throw c.fail("steps \(steps) must be positive (reversing slices are not supported)") }
    func clamp(_ v: Int64) -> Int { Int(max(Int64(Int.min / 4), min(Int64(Int.max / 4), v))) }
    var ranges = [SliceRange](repeating: .all, count: rank)
    // a step beyond any axis length takes one element, as a huge one does
    for (k, a) in axes.enumerated() { ranges[a] = SliceRange(clamp(starts[k]), clamp(ends[k]), step: Int(min(steps[k], 1 << 30))) }
    if let k = (try c.value(0)).constant {
      let resolved = zip(ranges, k.shape).map { r, n -> (start: Int, count: Int, step: Int) in
        let (s, count) = r.resolved(length: n)
        return (s, count, r.step)
      }
      return [.constant(k.sliced(resolved))]
    }
    let x = try c.runtime(0)
    if ranges[0] != .all {
      guard ranges[0].start == 0, ranges[0].step == 1, ranges[0].end >= Int(Int32.max) else {
        throw c.fail("slicing the batch axis is not supported")
      }
      ranges[0] = .all
    }
    let sample = zip(ranges.dropFirst(), x.sample).map { $0.resolved(length: $1).count }
    guard sample.allSatisfy({ $0 > 0 }) else { throw c.fail("the slice of [N] + \(x.sample) is empty") }
    if sample == x.sample && ranges.allSatisfy({ $0.step == 1 }) { return [.runtime(x)] }
    return [.runtime(RuntimeValue(node: c.add(Slice(ranges), [x]), sample: sample))]
  }

  /// Split into consecutive parts along an axis: sizes from the `split` attribute (opset < 13),
  /// the second input (13+) or equal parts (`num_outputs` or the output count).
  func split(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...2)
    let shape = try c.value(0).constant?.shape ?? [ConstantTensor.batchPlaceholder] + c.runtime(0).sample
    let axis = try normalizedAxis(try c.int("axis", default: 0), rank: shape.count, c)
    let n = shape[axis], outputs = c.node.output.count
    var sizes = opset >= 13 ? (c.has(1) ? try c.ints(1) : nil) : try c.ints("split")
    if sizes == nil {
      let parts = opset >= 18 ? try c.int("num_outputs", default: outputs) : outputs
      guard parts > 0, parts == outputs else { throw c.fail("num_outputs \(parts) does not match the \(outputs) outputs") }
      let size = (n + parts - 1) / parts
      sizes = (0..<parts).map { min(size, max(0, n - $0 * size)) }
    }
    guard let sizes, sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 && $0 <= n }), sizes.reduce(0, +) == n else {
      throw c.fail("split sizes \(sizes ?? []) do not divide axis \(axis) of size \(n) into \(outputs) outputs")
    }
    var start = 0, result: [ImportValue] = []
    for (k, size) in sizes.enumerated() {
      defer { start += size }
      if let t = (try c.value(0)).constant {
        let r = t.shape.enumerated().map { $0.offset == axis ? (start, size, 1) : (0, $0.element, 1) }
        result.append(.constant(t.sliced(r)))
        continue
      }
      let x = try c.runtime(0)
      guard axis >= 1 else { throw c.fail("splitting the batch axis is not supported") }
      guard size > 0 else { throw c.fail("output \(k) would be empty") }
      var ranges = [SliceRange](repeating: .all, count: x.rank)
      ranges[axis] = SliceRange(start, start + size)
      var sample = x.sample
      sample[axis - 1] = size
      result.append(.runtime(RuntimeValue(node: c.add(Slice(ranges), [x], suffix: "\(k)"), sample: sample)))
    }
    return result
  }

  /// Constant-mode Pad of a computed tensor (the batch axis unpadded).
  func pad(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...4)
    let mode = try c.string("mode", default: "constant")
    guard mode == "constant" else { throw c.fail("mode '\(mode)' is not supported (constant padding only)") }
    let x = try c.runtime(0)
    var pads: [Int], value: Float = 0
    if opset >= 11 {
      pads = try c.ints(1)
      if let v = try c.optionalConstant(2) {
        guard v.count == 1 else { throw c.fail("constant_value must be a scalar") }
        value = v.floats[0]
      }
    } else {
      pads = try c.ints("pads") ?? []
      value = try c.float("value", default: 0)
    }
    var axes = Array(0..<x.rank)
    if c.has(3) { axes = try c.ints(3).map { try normalizedAxis($0, rank: x.rank, c) } }
    guard pads.count == 2 * axes.count else { throw c.fail("pads \(pads) need \(2 * axes.count) values") }
    var before = [Int](repeating: 0, count: x.rank), after = before
    for (k, a) in axes.enumerated() { (before[a], after[a]) = (pads[k], pads[k + axes.count]) }
    guard before[0] == 0, after[0] == 0 else { throw c.fail("padding the batch axis is not supported") }
    guard (before + after).allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else { throw c.fail("pads \(pads) must be non-negative (cropping pads are not supported)") }
    guard value.isFinite else { throw c.fail("constant_value \(value) must be finite") }
    let sample = x.sample.indices.map { x.sample[$0] + before[$0 + 1] + after[$0 + 1] }
    if sample == x.sample { return [.runtime(x)] }
    return [.runtime(RuntimeValue(node: c.add(Pad(before: before, after: after, value: value), [x]), sample: sample))]
  }

  /// Resize (opset 11+) and the older Upsample, nearest mode: integer factors on H and W whose
  /// index mapping, under the given coordinate transformation and rounding, is the repetition
  /// out[i] = in[i / s] — what `Upsample` computes. Other mappings and modes are refused.
  func resize(_ c: NodeContext) throws -> [ImportValue] {
    let x = try c.runtime(0)
    guard x.rank == 4 else { throw c.fail("only [N, C, H, W] inputs are supported, got rank \(x.rank)") }
    let mode = try c.string("mode", default: "nearest")
    guard mode == "nearest" else { throw c.fail("mode '\(mode)' is not supported (nearest only: the integer simulator cannot run it exactly)") }
    let upsample = c.op == "Upsample"
    let transform = upsample ? "asymmetric" : try c.string("coordinate_transformation_mode", default: "half_pixel")
    let rounding = upsample ? "floor" : try c.string("nearest_mode", default: "round_prefer_floor")
    for key in ["antialias", "exclude_outside"] { try c.refuse(key) { $0.i == 0 } }
    try c.refuse("axes") { _ in false }
    try c.refuse("keep_aspect_ratio_policy") { String(decoding: $0.s, as: UTF8.self) == "stretch" }
    let full = [1] + x.sample
    var out: [Int]
    var given: [Double]
    if !upsample, c.has(3), let sizes = try c.optionalConstant(3), sizes.count > 0 {
      let raw = try sizes.ints("node '\(c.name)' sizes", allowBatch: true)
      guard raw.count == 4, raw[0] == ConstantTensor.batch || raw[0] >= 1, raw.dropFirst().allSatisfy({ $0 >= 1 && $0 <= 1 << 24 }) else {
        throw c.fail("sizes \(raw) must give four positive values (the first the batch size)")
      }
      out = [1] + raw.dropFirst().map { Int($0) }
      given = zip(out, full).map { Double($0) / Double($1) }
    } else {
      let k = try c.constant(upsample ? 1 : 2)
      given = k.floats.map(Double.init)
      guard given.count == 4, given.allSatisfy({ $0 > 0 && $0 <= 1024 }) else { throw c.fail("scales \(given) must be four positive values up to 1024") }
      out = zip(full, given).map { Int((Double($0) * $1).rounded(.down)) }
    }
    guard given[0] == 1 || out[0] == 1, out[1] == full[1] else { throw c.fail("resizing the batch or channel axis is not supported") }
    var factors: [Int] = []
    for axis in 2..<4 {
      let (n, m) = (full[axis], out[axis])
      guard m >= n, m % n == 0 else { throw c.fail("axis \(axis): \(n) → \(m) is not an integer enlargement") }
      let s = m / n
      for i in 0..<m where try nearestSource(i, scale: given[axis], n: n, m: m, transform, rounding, c) != i / s {
        throw c.fail("nearest \(transform) / \(rounding) does not repeat each input \(s) times on axis \(axis)")
      }
      factors.append(s)
    }
    if factors == [1, 1] { return [.runtime(x)] }
    let node = c.add(Upsample(scaleH: factors[0], scaleW: factors[1]), [x])
    return [.runtime(RuntimeValue(node: node, sample: [x.sample[0], out[2], out[3]]))]
  }

  /// The input index ONNX Resize reads for output index i (nearest mode).
  func nearestSource(_ i: Int, scale: Double, n: Int, m: Int, _ transform: String, _ rounding: String, _ c: NodeContext) throws -> Int {
    let x: Double
    switch transform {
    case "half_pixel": x = (Double(i) + 0.5) / scale - 0.5
    case "pytorch_half_pixel": x = m > 1 ? (Double(i) + 0.5) / scale - 0.5 : 0
    case "align_corners": x = m > 1 ? Double(i) * Double(n - 1) / Double(m - 1) : 0
    case "asymmetric": x = Double(i) / scale
    case "tf_half_pixel_for_nn": x = (Double(i) + 0.5) / scale
    default: throw c.fail("coordinate_transformation_mode '\(transform)' is not supported")
    }
    let r: Double
    switch rounding {
    case "round_prefer_floor": r = x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded(.toNearestOrAwayFromZero)
    case "round_prefer_ceil": r = x - x.rounded(.down) == 0.5 ? x.rounded(.up) : x.rounded(.toNearestOrAwayFromZero)
    case "floor": r = x.rounded(.down)
    case "ceil": r = x.rounded(.up)
    default: throw c.fail("nearest_mode '\(rounding)' is not supported")
    }
    return Int(min(max(r, 0), Double(n - 1)))
  }
}
