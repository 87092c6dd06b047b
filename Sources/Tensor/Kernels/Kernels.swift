import CKernels

/// Untracked tensor computations. Every function here reads its inputs and returns a new tensor;
/// none records autodiff information (see the `Autograd` module for the differentiable API).
public enum Kernels {}

/// Collapses adjacent axes that are contiguous for every operand, so the C kernels see as few and as
/// long rows as possible. Returns the reduced shape and per-operand strides.
func coalesce(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
  if shape.isEmpty { return ([], strides) }
  var outShape = [shape[0]]
  var outStrides = strides.map { [$0[0]] }
  for axis in 1..<shape.count {
    let n = shape[axis]
    let last = outShape.count - 1
    let mergeable = strides.indices.allSatisfy { k in outStrides[k][last] == strides[k][axis] * n }
    if mergeable {
      outShape[last] *= n
      for k in strides.indices { outStrides[k][last] = strides[k][axis] }
    } else {
      outShape.append(n)
      for k in strides.indices { outStrides[k].append(strides[k][axis]) }
    }
  }
  return (outShape, outStrides)
}

extension Array where Element == Int {
  var int64: [Int64] { map(Int64.init) }
}
