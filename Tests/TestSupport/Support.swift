import Autograd
import TensorCore

/// Largest absolute difference between two equally shaped tensors.
public func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
  precondition(a.shape == b.shape, "maxAbsDifference: shapes \(a.shape) and \(b.shape) differ")
  return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

/// True when every element satisfies |a − b| ≤ atol + rtol·|b|.
public func allClose(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-5) -> Bool {
  guard a.shape == b.shape else { return false }
  return zip(a.scalars, b.scalars).allSatisfy { Swift.abs($0 - $1) <= atol + rtol * Swift.abs($1) }
}

public func allClose(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-5) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= atol + rtol * Swift.abs($1) }
}

/// One mismatch found by `gradientCheck`.
public struct GradientMismatch: CustomStringConvertible {
  public var input: Int
  public var index: Int
  public var analytic: Double
  public var numeric: Double
  public var description: String { "input \(input)[\(index)]: analytic \(analytic), numeric \(numeric)" }
}

/// Compares the recorded gradients of Σ f(inputs)·R (R a fixed random tensor) with central finite
/// differences, evaluated in double precision from the Float32 outputs. Checks up to `maxElements`
/// elements per input (spread evenly). Returns every mismatch beyond atol + rtol·|numeric|.
public func gradientCheck(_ inputs: [Tensor], delta: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                          maxElements: Int = 64, seed: UInt64 = 7,
                          _ f: ([Tensor]) -> Tensor) -> [GradientMismatch] {
  let marked = inputs.map { $0.trackingGradients() }
  let y = f(marked.map(\.tensor))
  var rng = RandomGenerator(seed: seed)
  let weights = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
  let grads = gradients(of: (y * weights).sum())
  let w = weights.scalars.map(Double.init)
  func objective(_ xs: [Tensor]) -> Double {
    zip(f(xs).scalars, w).reduce(0) { $0 + Double($1.0) * $1.1 }
  }
  var mismatches: [GradientMismatch] = []
  for (i, x) in inputs.enumerated() {
    let analytic = grads[marked[i].key]?.scalars ?? [Float](repeating: 0, count: x.count)
    let step = Swift.max(1, x.count / maxElements)
    for j in stride(from: 0, to: x.count, by: step) {
      var plus = inputs, minus = inputs
      plus[i] = x.detached
      plus[i].withUnsafeMutableBufferPointer { $0[j] += delta }
      minus[i] = x.detached
      minus[i].withUnsafeMutableBufferPointer { $0[j] -= delta }
      let numeric = (objective(plus) - objective(minus)) / (2 * Double(delta))
      let a = Double(analytic[j])
      if Swift.abs(a - numeric) > atol + rtol * Swift.abs(numeric) {
        mismatches.append(GradientMismatch(input: i, index: j, analytic: a, numeric: numeric))
      }
    }
  }
  return mismatches
}

/// Direct (seven-loop) convolution in double precision, the reference for the oneDNN kernels.
public func referenceConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ g: ConvGeometry) -> Tensor {
  let outShape = g.outputShape(input: x.shape, weight: w.shape)
  let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (o, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  let (oh, ow) = (outShape[2], outShape[3])
  let xs = x.scalars, ws = w.scalars, bs = b?.scalars
  let opg = o / g.groups
  var out = [Float](repeating: 0, count: outShape.count)
  for ni in 0..<n {
    for oc in 0..<o {
      let grp = oc / opg
      for y in 0..<oh {
        for xo in 0..<ow {
          var s = Double(bs?[oc] ?? 0)
          for icl in 0..<ci {
            let ic = grp * ci + icl
            for ky in 0..<kh {
              let iy = y * g.strideH - g.padTop + ky * g.dilationH
              if iy < 0 || iy >= h { continue }
              for kx in 0..<kw {
                let ix = xo * g.strideW - g.padLeft + kx * g.dilationW
                if ix < 0 || ix >= wd { continue }
                s += Double(xs[((ni * c + ic) * h + iy) * wd + ix]) * Double(ws[((oc * ci + icl) * kh + ky) * kw + kx])
              }
            }
          }
          out[((ni * o + oc) * oh + y) * ow + xo] = Float(s)
        }
      }
    }
  }
  return Tensor(out, shape: outShape)
}

/// Random tensor with values in [-1, 1) from a fixed seed.
public func randomTensor(_ shape: Shape, seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
  var rng = RandomGenerator(seed: seed)
  return Tensor.uniform(shape, low: low, high: high, using: &rng)
}
