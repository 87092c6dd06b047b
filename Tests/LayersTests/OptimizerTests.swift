import Autograd
import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct OptimizerTests {
  func grads(_ p: Parameter, _ g: [Float]) -> Gradients {
    var gr = Gradients()
    gr[p.key] = Tensor(g)
    return gr
  }

  @Test func sgdMomentumWeightDecayNesterov() {
    let p = Parameter(Tensor([1, -2]))
    let opt = SGD(p.asArray, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    opt.update(grads(p, [0.5, 0.5]))
    // d = g + wd·p = [0.51, 0.48]; buf = d; p -= 0.1·d
    #expect(allClose(p.value.scalars, [1 - 0.051, -2 - 0.048]))
    opt.update(grads(p, [0.5, 0.5]))
    let d2: [Float] = [0.5 + 0.01 * 0.949, 0.5 + 0.01 * -2.048]
    let buf2 = [0.9 * 0.51 + d2[0], 0.9 * 0.48 + d2[1]]
    #expect(allClose(p.value.scalars, [0.949 - 0.1 * buf2[0], -2.048 - 0.1 * buf2[1]]))
    let q = Parameter(Tensor([1]))
    let nesterov = SGD(q.asArray, learningRate: 0.1, momentum: 0.9, nesterov: true)
    nesterov.update(grads(q, [1]))
    #expect(allClose(q.value.scalars, [1 - 0.1 * (1 + 0.9 * 1)]))
  }

  @Test func adamFirstStepMovesByLearningRate() {
    let p = Parameter(Tensor([1, 1]))
    let opt = Adam(p.asArray, learningRate: 0.01)
    opt.update(grads(p, [3, -0.001]))
    // after bias correction the first step is lr·sign(g) (up to eps)
    #expect(allClose(p.value.scalars, [0.99, 1.01], atol: 1e-5))
    let w = Parameter(Tensor([2]))
    let adamW = Adam.adamW(w.asArray, learningRate: 0.1, weightDecay: 0.5)
    adamW.update(grads(w, [0]))
    #expect(allClose(w.value.scalars, [2 - 0.1 * 0.5 * 2]))
  }

  @Test func frozenParametersAreNotUpdated() {
    let p = Parameter(Tensor([1]), requiresGradient: false)
    SGD(p.asArray, learningRate: 1).update(grads(p, [1]))
    #expect(p.value.scalars == [1])
  }

  @Test func schedules() {
    #expect(StepSchedule(base: 1, stepSize: 10, gamma: 0.5).learningRate(at: 25) == 0.25)
    #expect(MultiStepSchedule(base: 1, milestones: [5, 8], gamma: 0.1).learningRate(at: 7) == Float(0.1))
    let cosine = CosineSchedule(base: 1, totalSteps: 100)
    #expect(cosine.learningRate(at: 0) == 1 && abs(cosine.learningRate(at: 50) - 0.5) < 1e-6 && cosine.learningRate(at: 100) == 0)
    let warm = WarmupSchedule(ConstantSchedule(1), warmupSteps: 10, startFactor: 0.1)
    #expect(warm.learningRate(at: 0) == 0.1 && abs(warm.learningRate(at: 5) - 0.55) < 1e-6 && warm.learningRate(at: 10) == 1)
  }

  @Test func gradientNormClipping() {
    let a = Parameter(Tensor([3])), b = Parameter(Tensor([4]))
    var g = Gradients()
    g[a.key] = Tensor([3])
    g[b.key] = Tensor([4])
    let norm = clipGradientNorm(&g, maxNorm: 1)
    #expect(norm == 5)
    #expect(allClose(g[a]!.scalars, [0.6], atol: 1e-5) && allClose(g[b]!.scalars, [0.8], atol: 1e-5))
  }
}

@Suite struct TrainingTests {
  /// The smallest honest end-to-end run: a small MLP learns a generated two-class problem.
  @Test func lossFallsOnGeneratedData() {
    var rng = RandomGenerator(seed: 4)
    let x = Tensor.normal([256, 2], using: &rng)
    let labels = x.scalars.chunked(2).map { $0[0] * $0[1] > 0 ? 1 : 0 }  // XOR-like quadrants
    var b = ModelBuilder(seed: 1)
    var h = b.input(shape: [2])
    h = b.linear("fc1", h, 2, 32)
    h = b.add("relu", ReLU(), h)
    h = b.linear("fc2", h, 32, 2)
    let model = b.build(output: h)
    let opt = SGD(model.parameters, learningRate: 0.1, momentum: 0.9)
    var losses: [Float] = []
    for _ in 0..<200 {
      let (loss, g) = valueWithGradients { model(x).softmaxCrossEntropy(labels: labels) }
      opt.update(g)
      losses.append(loss.scalar)
    }
    #expect(losses.last! < 0.3 * losses.first!)
    let accuracy = zip(model(x).argmax(axis: 1), labels).filter { $0 == $1 }.count
    #expect(accuracy > 230)
  }
}

extension Parameter {
  var asArray: [Parameter] { [self] }
}

extension Array {
  func chunked(_ n: Int) -> [[Element]] { stride(from: 0, to: count, by: n).map { Array(self[$0..<Swift.min($0 + n, count)]) } }
}
