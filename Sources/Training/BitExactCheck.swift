import DeployFormat
import Layers
import QAT
import Simulator
import TensorCore

/// Compares the fake-quant model with the integer simulator at every tensor of the deploy graph:
/// the fake-quant values, divided by their tensor's scale, must equal the simulator's codes.
///
/// ```swift
/// let report = try BitExactCheck.compare(quantizedModel, try Simulator(directory: "deploy"), batch: images)
/// print(report.tensorsCompared, report.mismatchedTensors.count, report.maxLSBDifference)
/// ```
public struct BitExactReport: Sendable {
  public var images = 0
  public var tensorsCompared = 0
  public var mismatchedTensors: Set<String> = []
  public var mismatchedValues = 0
  public var valuesCompared = 0
  public var maxLSBDifference = 0
  /// The first tensor (in graph order) that differed.
  public var firstMismatch: String?
  /// Layers that needed the exact integer path but computed in float, with the reason
  /// (`QuantizedModel.exactPathFailures`).
  public var inexactLayers: [String] = []

  public init() {}

  public mutating func merge(_ o: BitExactReport) {
    images += o.images
    tensorsCompared += o.tensorsCompared
    mismatchedTensors.formUnion(o.mismatchedTensors)
    mismatchedValues += o.mismatchedValues
    valuesCompared += o.valuesCompared
    maxLSBDifference = max(maxLSBDifference, o.maxLSBDifference)
    firstMismatch = firstMismatch ?? o.firstMismatch
    inexactLayers += o.inexactLayers.filter { !inexactLayers.contains($0) }
  }
}

public enum BitExactCheck {
  /// Runs one batch through both and compares every deploy tensor.
  public static func compare(_ qm: QuantizedModel, _ simulator: Simulator, batch x: Tensor) throws -> BitExactReport {
    let names = tensorNames(qm)
    var fakeQuant: [String: Tensor] = [:]
    qm.clearExactPathFailures()
    try qm.model.withoutGradients {
      try qm.model.validate(input: x)
      let previous = qm.model.phase
      qm.model.setPhase(.inference)
      defer { qm.model.setPhase(previous) }
      _ = qm.model.forward([x]) { i, t in
        if let name = names[i], simulator.graph.tensors[name] != nil { fakeQuant[name] = t.rowMajor }
      }
    }
    let simulated = try simulator.run([x], keepAll: true)
    var report = BitExactReport()
    report.images = x.shape[0]
    for node in simulator.graph.nodes {
      let name = node.output
      guard let sim = simulated[name], let fq = fakeQuant[name] else { continue }
      report.tensorsCompared += 1
      let scale = Double(sign: .plus, exponent: sim.format.fractionalBits, significand: 1)
      let values = fq.scalars
      guard values.count == sim.codes.count else {
        // different shapes: every value counts as mismatched
        report.valuesCompared += max(values.count, sim.codes.count)
        report.mismatchedTensors.insert(name)
        report.mismatchedValues += max(values.count, sim.codes.count)
        report.maxLSBDifference = Int.max
        if report.firstMismatch == nil { report.firstMismatch = name }
        continue
      }
      var bad = 0, worst = 0
      for (k, v) in values.enumerated() {
        let code = Double(v) * scale
        let diff = abs(code - Double(sim.codes[k]))
        if diff != 0 { bad += 1; worst = max(worst, diff.isFinite ? Int(diff.rounded(.up)) : Int.max) }
      }
      report.valuesCompared += values.count
      if bad > 0 {
        report.mismatchedTensors.insert(name)
        report.mismatchedValues += bad
        report.maxLSBDifference = max(report.maxLSBDifference, worst)
        if report.firstMismatch == nil { report.firstMismatch = name }
      }
    }
    report.inexactLayers = qm.exactPathFailures.map { "\($0.layer): \($0.reason)" }
    return report
  }

  /// Deploy tensor name of each model node's output: quantizer labels, and node names for ops
  /// that keep their input's grid.
  static func tensorNames(_ qm: QuantizedModel) -> [Int: String] {
    var names: [Int: String] = [:]
    for (i, node) in qm.model.nodes.enumerated() {
      names[i] = qm.activationQuantizer(atNode: i)?.label ?? node.name
    }
    return names
  }
}
