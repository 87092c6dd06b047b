import Testing
import TensorCore

@Suite struct MovementTests {
  let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])

  @Test func permuteAndTranspose() {
    let p = Kernels.permute(x, [2, 0, 1])
    #expect(p.shape == [4, 2, 3])
    #expect(p[1, 1, 2] == x[1, 2, 1])
    let m = Kernels.permute(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), [1, 0])
    #expect(m.scalars == [1, 4, 2, 5, 3, 6])
  }

  @Test func expand() {
    let e = Kernels.expand(Tensor([1, 2], shape: [2, 1]), to: [2, 3])
    #expect(e.scalars == [1, 1, 1, 2, 2, 2])
    #expect(Kernels.expand(Tensor(scalar: 5), to: [2]).scalars == [5, 5])
    #expect(Kernels.sumToShape(e, [2, 1]).scalars == [3, 6])
    #expect(Kernels.sumToShape(e, [3]).scalars == [3, 3, 3])
  }

  @Test func sliceWithStep() {
    let s = Kernels.slice(x, [SliceRange(1, 2), SliceRange(0, 3, step: 2), SliceRange(1, 4, step: 2)])
    #expect(s.shape == [1, 2, 2])
    #expect(s.scalars == [13, 15, 21, 23])
    // option-A shortcut: x[:, :, ::2, ::2]
    let img = Tensor((0..<16).map(Float.init), shape: [1, 1, 4, 4])
    let sub = Kernels.slice(img, [.all, .all, SliceRange(0, Int.max, step: 2), SliceRange(0, Int.max, step: 2)])
    #expect(sub.scalars == [0, 2, 8, 10])
    // negative start counts from the end
    #expect(Kernels.slice(Tensor([1, 2, 3, 4]), [SliceRange(-2, Int.max)]).scalars == [3, 4])
    let back = Kernels.sliceBackward(Tensor([1, 1, 1, 1], shape: [1, 1, 2, 2]), inputShape: [1, 1, 4, 4],
                                     [.all, .all, SliceRange(0, Int.max, step: 2), SliceRange(0, Int.max, step: 2)])
    #expect(back.scalars == [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0])
  }

  @Test func padConcatSplit() {
    let p = Kernels.pad(Tensor([1, 2, 3, 4], shape: [2, 2]), before: [1, 0], after: [0, 1], value: 9)
    #expect(p.shape == [3, 3])
    #expect(p.scalars == [9, 9, 9, 1, 2, 9, 3, 4, 9])
    #expect(Kernels.padBackward(p, before: [1, 0], inputShape: [2, 2]).scalars == [1, 2, 3, 4])
    let a = Tensor([1, 2, 3, 4], shape: [2, 2]), b = Tensor([5, 6], shape: [2, 1])
    let c = Kernels.concat([a, b], axis: 1)
    #expect(c.scalars == [1, 2, 5, 3, 4, 6])
    let parts = Kernels.split(c, sizes: [2, 1], axis: 1)
    #expect(parts[0].scalars == a.scalars && parts[1].scalars == b.scalars)
    let rows = Kernels.concat([a, a], axis: 0)
    #expect(rows.shape == [4, 2] && rows.scalars == [1, 2, 3, 4, 1, 2, 3, 4])
  }

  @Test func reshapeSharesStorage() {
    let r = x.reshapedRaw(to: [6, 4])
    #expect(r.sharesStorage(with: x))
    #expect(r[5, 3] == 23)
  }
}

@Suite struct MatmulTests {
  @Test func handComputedProduct() {
    let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    let b = Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
    #expect(Kernels.matmul(a, b).scalars == [58, 64, 139, 154])
    #expect(Kernels.matmul(a, a, transposeB: true).scalars == [14, 32, 32, 77])
    #expect(Kernels.matmul(a, a, transposeA: true).shape == [3, 3])
    #expect(Kernels.matmul(a, a, transposeA: true).scalars[0] == 17)
  }

  @Test func batchedWithBroadcast() {
    let a = Tensor((0..<12).map(Float.init), shape: [2, 2, 3])
    let b = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
    let c = Kernels.matmul(a, b)
    #expect(c.shape == [2, 2, 2])
    #expect(c.scalars == [2, 3, 8, 9, 14, 15, 20, 21])
  }
}

@Suite struct PoolTests {
  let x = Tensor((0..<16).map(Float.init), shape: [1, 1, 4, 4])

  @Test func maxPool() {
    let (y, arg) = Kernels.maxPool2D(x, Pool2DGeometry(kernel: (2, 2)))
    #expect(y.scalars == [5, 7, 13, 15])
    #expect(arg == [5, 7, 13, 15])
    let g = Kernels.maxPool2DBackward(Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2]), argmax: arg, inputShape: x.shape)
    #expect(g.scalars[5] == 1 && g.scalars[15] == 4 && g.scalars.reduce(0, +) == 10)
    let (p, _) = Kernels.maxPool2D(x, Pool2DGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
    #expect(p.scalars == [5, 7, 13, 15])
  }

  @Test func avgPool() {
    #expect(Kernels.avgPool2D(x, Pool2DGeometry(kernel: (2, 2))).scalars == [2.5, 4.5, 10.5, 12.5])
    let padded = Pool2DGeometry(kernel: (3, 3), stride: (1, 1), padding: (1, 1))
    let inc = Kernels.avgPool2D(x, padded, countIncludePad: true).scalars
    let exc = Kernels.avgPool2D(x, padded, countIncludePad: false).scalars
    #expect(inc[0] == Float(0 + 1 + 4 + 5) / 9)
    #expect(exc[0] == Float(0 + 1 + 4 + 5) / 4)
    #expect(Kernels.avgPool2D(x, Pool2DGeometry(kernel: (2, 2)), divisor: 2).scalars[0] == 5)
    #expect(Kernels.globalAvgPool2D(x).scalars == [7.5])
  }

  @Test func ceilMode() {
    let g = Pool2DGeometry(kernel: (3, 3), stride: (2, 2), ceilMode: true)
    #expect(g.outputSize(4, 4) == (2, 2))
    #expect(Pool2DGeometry(kernel: (3, 3), stride: (2, 2)).outputSize(4, 4) == (1, 1))
  }
}
