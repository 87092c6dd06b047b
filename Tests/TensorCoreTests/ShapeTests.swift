import Testing
@testable import TensorCore

@Suite struct ShapeTests {
  @Test func stridesAreRowMajor() {
    #expect(Shape([2, 3, 4]).strides == [12, 4, 1])
    #expect(Shape([]).strides == [])
    #expect(Shape([]).count == 1)
  }

  @Test func broadcastFollowsNumPy() {
    #expect(Shape.broadcast([2, 1, 4], [3, 1]) == [2, 3, 4])
    #expect(Shape.broadcast([5], []) == [5])
    #expect(Shape.broadcast([2, 3], [3, 2]) == nil)
    #expect(Shape([3, 1]).broadcastStrides(to: [2, 3, 4]) == [0, 1, 0])
  }

  @Test func negativeAxes() {
    #expect(Shape([2, 3, 4]).normalized(-1) == 2)
    #expect(Shape([2, 3, 4])[-2] == 3)
  }

  @Test func coalesceMergesContiguousAxes() {
    let (d, s) = coalesce([2, 3, 4], [[12, 4, 1], [0, 0, 1]])
    #expect(d == [6, 4])
    #expect(s == [[4, 1], [0, 1]])
  }
}

@Suite struct CreationTests {
  @Test func constructors() {
    #expect(Tensor.zeros([2, 2]).scalars == [0, 0, 0, 0])
    #expect(Tensor.full([3], 2.5).scalars == [2.5, 2.5, 2.5])
    #expect(Tensor.arange(to: 5).scalars == [0, 1, 2, 3, 4])
    #expect(Tensor.arange(1, to: 2, step: 0.25).scalars == [1, 1.25, 1.5, 1.75])
    #expect(Tensor.oneHot([2, 0], classes: 3).scalars == [0, 0, 1, 1, 0, 0])
    let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    #expect(t[1, 2] == 6)
    #expect(t.scalar(at: [0, 1]) == 2)
  }

  @Test func valueSemantics() {
    let a = Tensor([1, 2, 3])
    var b = a
    b[0] = 10
    #expect(a.scalars == [1, 2, 3])
    #expect(b.scalars == [10, 2, 3])
  }

  @Test func seededRandomIsReproducible() {
    var r1 = RandomGenerator(seed: 42), r2 = RandomGenerator(seed: 42), r3 = RandomGenerator(seed: 43)
    let a = Tensor.normal([1000], using: &r1), b = Tensor.normal([1000], using: &r2), c = Tensor.normal([1000], using: &r3)
    #expect(a.scalars == b.scalars)
    #expect(a.scalars != c.scalars)
    let mean = a.scalars.reduce(0, +) / 1000
    let variance = a.scalars.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 1000
    #expect(abs(mean) < 0.1)
    #expect(abs(variance - 1) < 0.1)
    var r4 = RandomGenerator(seed: 1)
    let u = Tensor.uniform([10000], low: -2, high: 3, using: &r4).scalars
    #expect(u.allSatisfy { $0 >= -2 && $0 < 3 })
    #expect(abs(u.reduce(0, +) / 10000 - 0.5) < 0.05)
  }

  @Test func permutationIsAPermutation() {
    var rng = RandomGenerator(seed: 9)
    let p = rng.permutation(1000)
    #expect(p.sorted() == Array(0..<1000))
    #expect(p != Array(0..<1000))
    var again = RandomGenerator(seed: 9)
    #expect(again.permutation(1000) == p)
  }

  @Test func generatorStateRoundTrips() {
    var a = RandomGenerator(seed: 5)
    _ = a.next()
    var b = RandomGenerator(state: a.state)
    #expect(a.next() == b.next())
  }
}

extension Tensor {
  func scalar(at index: [Int]) -> Float { scalars[flatIndex(index)] }
}
