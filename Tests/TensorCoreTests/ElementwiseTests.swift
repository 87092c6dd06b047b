import Testing
import TensorCore

@Suite struct ElementwiseTests {
  let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])

  @Test func broadcastingArithmetic() {
    let row = Tensor([10, 20, 30])
    let col = Tensor([100, 200], shape: [2, 1])
    #expect(Kernels.binary(.add, a, row).scalars == [11, 22, 33, 14, 25, 36])
    #expect(Kernels.binary(.add, a, col).scalars == [101, 102, 103, 204, 205, 206])
    #expect(Kernels.binary(.subtract, row, a).scalars == [9, 18, 27, 6, 15, 24])
    #expect(Kernels.binary(.multiply, a, Tensor(scalar: 2)).scalars == [2, 4, 6, 8, 10, 12])
    #expect(Kernels.binary(.divide, a, col).scalars == [0.01, 0.02, 0.03, 0.02, 0.025, 0.03])
    // [2,1] with [3] -> [2,3]
    #expect(Kernels.binary(.add, col, row).scalars == [110, 120, 130, 210, 220, 230])
  }

  @Test func minMaxCompareSelect() {
    let b = Tensor([3, 3, 3, 3, 3, 3], shape: [2, 3])
    #expect(Kernels.binary(.maximum, a, b).scalars == [3, 3, 3, 4, 5, 6])
    #expect(Kernels.binary(.minimum, a, b).scalars == [1, 2, 3, 3, 3, 3])
    #expect(Kernels.binary(.less, a, b).scalars == [1, 1, 0, 0, 0, 0])
    #expect(Kernels.binary(.greaterEqual, a, b).scalars == [0, 0, 1, 1, 1, 1])
    #expect(Kernels.binary(.equal, a, b).scalars == [0, 0, 1, 0, 0, 0])
    let cond = Tensor([1, 0, 1])
    #expect(Kernels.select(cond, a, Tensor(scalar: -1)).scalars == [1, -1, 3, 4, -1, 6])
  }

  @Test func unaryValues() {
    let x = Tensor([-2, -0.5, 0, 0.5, 2])
    #expect(Kernels.unary(.abs, x).scalars == [2, 0.5, 0, 0.5, 2])
    #expect(Kernels.unary(.negate, x).scalars == [2, 0.5, -0, -0.5, -2])
    #expect(Kernels.unary(.relu, x).scalars == [0, 0, 0, 0.5, 2])
    #expect(Kernels.clamp(x, min: -1, max: 1).scalars == [-1, -0.5, 0, 0.5, 1])
    let e = Kernels.unary(.exp, Tensor([0, 1])).scalars
    #expect(e[0] == 1 && abs(e[1] - 2.7182817) < 1e-6)
    #expect(Kernels.unary(.log, Tensor([1, 4])).scalars[1] == Float(4).log())
    #expect(Kernels.unary(.sqrt, Tensor([4, 9])).scalars == [2, 3])
    let s = Kernels.unary(.sigmoid, Tensor([-100, 0, 100])).scalars
    #expect(s[0] >= 0 && s[0] < 1e-30 && s[1] == 0.5 && s[2] == 1)
    let t = Kernels.unary(.tanh, Tensor([0, 20])).scalars
    #expect(t == [0, 1])
  }

  @Test func largeTensorsUseEveryChunk() {
    // more than one parallel chunk and a broadcast along a long inner axis
    let n = 100_003
    let x = Tensor(shape: [n]) { for i in 0..<n { $0[i] = Float(i) } }
    let y = Kernels.binary(.add, x, Tensor(scalar: 1)).scalars
    #expect(y.enumerated().allSatisfy { $0.element == Float($0.offset + 1) })
    let m = Kernels.binary(.multiply, x.reshapedRaw(to: [1, n]), Tensor([1, 2], shape: [2, 1])).scalars
    #expect(m[n + 5] == 10 && m[5] == 5 && m[2 * n - 1] == Float(2 * (n - 1)))
  }
}

extension Float {
  func log() -> Float { Float(Glibc.log(Double(self))) }
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ReduceTests {
  let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])

  @Test func sumOverAxes() {
    #expect(Kernels.sum(x, axes: [2]).scalars == [6, 22, 38, 54, 70, 86])
    #expect(Kernels.sum(x, axes: [0]).shape == [3, 4])
    #expect(Kernels.sum(x, axes: [0]).scalars[0] == 12)
    #expect(Kernels.sum(x, axes: [0, 2], keepDims: true).shape == [1, 3, 1])
    #expect(Kernels.sum(x, axes: [0, 2], keepDims: true).scalars == [60, 92, 124])
    #expect(Kernels.sum(x, axes: [-1, 1]).scalars == [66, 210])
    #expect(Kernels.sumAll(x).scalar == 276)
    #expect(Kernels.mean(x, axes: [1]).scalars == [4, 5, 6, 7, 16, 17, 18, 19])
  }

  @Test func maxMinArgmax() {
    let y = Tensor([3, 1, 4, 1, 5, 9, 2, 6, 5], shape: [3, 3])
    #expect(Kernels.reduce(.max, y, axes: [1]).scalars == [4, 9, 6])
    #expect(Kernels.reduce(.min, y, axes: [0]).scalars == [1, 1, 4])
    #expect(Kernels.argmax(y, axis: 1) == [2, 2, 1])
    #expect(Kernels.argmax(y, axis: 0) == [0, 2, 1])
    #expect(Kernels.argmax(Tensor([2, 7, 7, 1]), axis: 0) == [1])  // first of ties
    #expect(Kernels.argmax(y, axis: 1, smallest: true) == [1, 0, 0])
  }

  @Test func softmaxIsStable() {
    let s = Kernels.softmax(Tensor([1000, 1000, 1000, 0, 0, 0], shape: [2, 3])).scalars
    #expect(s.allSatisfy { abs($0 - 1.0 / 3) < 1e-6 })
    let l = Kernels.softmax(Tensor([0, 1000], shape: [1, 2]), log: true).scalars
    #expect(l[0] == -1000 && l[1] == 0)
    let p = Kernels.softmax(Tensor([1, 2, 3], shape: [1, 3])).scalars
    let e = [1, 2, 3].map { Glibc.exp(Double($0)) }
    let total = e.reduce(0, +)
    #expect(zip(p, e).allSatisfy { abs(Double($0) - $1 / total) < 1e-6 })
  }
}
