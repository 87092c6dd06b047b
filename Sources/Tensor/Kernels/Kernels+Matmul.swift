import CBLAS

extension Kernels {
  /// Matrix product over the last two axes, with NumPy broadcasting of leading (batch) axes.
  /// a: [..., M, K] (or [..., K, M] when transposeA), b: [..., K, N] (or [..., N, K] when transposeB).
  public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let (a, b) = (a.rowMajor, b.rowMajor)
    precondition(a.rank >= 2 && b.rank >= 2, "matmul: operands need rank >= 2, got \(a.shape) and \(b.shape)")
    let ad = a.shape.dims, bd = b.shape.dims
    let m = transposeA ? ad[ad.count - 1] : ad[ad.count - 2]
    let ka = transposeA ? ad[ad.count - 2] : ad[ad.count - 1]
    let kb = transposeB ? bd[bd.count - 1] : bd[bd.count - 2]
    let n = transposeB ? bd[bd.count - 2] : bd[bd.count - 1]
    precondition(ka == kb, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
    let aBatch = Shape(Array(ad.dropLast(2))), bBatch = Shape(Array(bd.dropLast(2)))
    let batch = broadcastShape(aBatch, bBatch, "matmul batch")
    let out = Tensor(uninitializedShape: Shape(batch.dims + [m, n]))
    let aStr = aBatch.broadcastStrides(to: batch), bStr = bBatch.broadcastStrides(to: batch)
    let batchStrides = batch.strides
    for i in 0..<batch.count {
      var ai = 0, bi = 0, rem = i
      for axis in 0..<batch.rank {
        let idx = rem / batchStrides[axis]
        rem %= batchStrides[axis]
        ai += idx * aStr[axis]
        bi += idx * bStr[axis]
      }
      sgemm(a.pointer + ai * m * ka, transposeA, b.pointer + bi * ka * n, transposeB,
            out.pointer + i * m * n, m: m, n: n, k: ka, beta: 0)
    }
    return out
  }

  /// C[m×n] = op(A)·op(B) + beta·C, row-major, contiguous operands.
  public static func sgemm(_ a: UnsafePointer<Float>, _ ta: Bool, _ b: UnsafePointer<Float>, _ tb: Bool,
                           _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, beta: Float) {
    if m == 0 || n == 0 { return }
    if k == 0 {
      for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
      return
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), 1, a, blasint(ta ? m : k), b, blasint(tb ? k : n),
                beta, c, blasint(n))
  }
}

/// Process-wide thread settings of the numeric libraries (OpenBLAS and the OpenMP pool shared by
/// oneDNN and our kernels). Call once at start-up from configuration; the default is all cores.
public enum Threading {
  public static func configure(threads: Int) {
    precondition(threads >= 1, "Threading.configure: threads must be >= 1, got \(threads)")
    openblas_set_num_threads(Int32(threads))
    CKernelsThreads.set(threads)
  }

  public static var threads: Int { CKernelsThreads.get() }

  /// Logical cores available to this process.
  public static var availableCores: Int { CKernelsThreads.cores() }
}
