import Autograd
import Layers
import TensorCore

/// Rewrites a float model for quantization (`QuantizedModel`). The model is modified in place.
///
/// Placement follows the DPU's fused patterns: a weight-bearing layer (+ folded BN) + a fusable
/// activation, and a residual sum + activation, carry one quantizer after the last member; layers
/// that keep values on their input's grid (`GridPreserving`) carry none; everything else
/// (averaging pools, concats, batch norms that could not be folded, other activations, the model
/// input) gets its own. Every decision reads a layer capability (Layers/Core/Capabilities.swift),
/// never a concrete layer type.
public enum Prepare {
  public static func quantize(_ model: Model, config: QuantizationConfig) throws -> QuantizedModel {
    try config.validate()
    try checkNames(model, config)
    if config.batchNorm == .fold { BatchNormFolding.foldAll(in: model) }
    model.setPhase(.inference)
    let qm = QuantizedModel(model: model, config: config)
    defer { if let f = config.fixedFractionalBits { for q in qm.quantizers { q.spec.fixedFractionalBits = f } } }
    let region = Set(quantizedRegion(model, config).map { model.nodes[$0].name })
    qm.floatNodes = Set(model.nodes.map(\.name)).subtracting(region)
    let firstName = model.nodes.first { $0.layer is any WeightBearing }?.name
    let lastName = model.nodes.last { $0.layer is any WeightBearing }?.name
    if config.simulateDPU { useDPUForms(model, region) }
    let outputLabel = try quantizeWeights(model, config, region: region, first: firstName, last: lastName)
    insertActivationQuantizers(qm, region: region, outputLabel: outputLabel, first: firstName, last: lastName)
    linkQuantizers(qm)
    alignments(qm)
    return qm
  }

  /// Weight-bearing layers in the region become quantized layers that absorb a following batch
  /// norm (QAT) and fusable activation (whose nodes are removed). Returns, per layer, the label
  /// of its output tensor (the last absorbed node's name).
  static func quantizeWeights(_ model: Model, _ config: QuantizationConfig, region: Set<String>,
                              first: String?, last: String?) throws -> [String: String] {
    var outputLabel: [String: String] = [:]
    let weightNodes = model.nodes.indices.filter { model.nodes[$0].layer is any WeightBearing && region.contains(model.nodes[$0].name) }
    for i in weightNodes.reversed() {
      let name = model.nodes[i].name
      let core = model.nodes[i].layer as! any WeightBearing
      let override = name == first ? config.firstLayerBit : (name == last ? config.lastLayerBit : nil)
      let bits = weightBits(name, override, config)
      var method = config.nodesMethod[name + ".weight"] ?? config.nodesMethod[name] ?? config.defaultWeightMethod
      if method == .minDiffsDepthwise && core.isDepthwise { method = .nonOverflow }
      var label = name
      var batchNorm: (any BatchNormalization)? = nil
      if config.batchNorm == .qat, let c = soleConsumer(model, i), let bn = model.nodes[c].layer as? any BatchNormalization {
        batchNorm = bn
        label = model.nodes[c].name
        model.bypass(c)
      }
      var activation = FusedActivation.identity
      if let c = soleConsumer(model, i), region.contains(model.nodes[c].name),
         let fused = (model.nodes[c].layer as? any ActivationLayer)?.fusedActivation {
        activation = fused
        label = model.nodes[c].name
        model.bypass(c)
      }
      outputLabel[name] = label
      let perChannel = perChannelWeights(core, config)
      let wq = weightQuantizer(name, bits, method, config, perChannel: perChannel)
      if let bn = batchNorm {
        let bq = biasQuantizer(name, bits, config, perChannel: perChannel)
        let q = QuantizedBatchNormFold(core, bn, activation: activation, weightQuantizer: wq, biasQuantizer: bq)
        q.requantize = config.requantize
        model.replaceLayer(at: i, with: q)
      } else {
        let bq = core.bias.map { _ in biasQuantizer(name, bits, config, perChannel: perChannel) }
        let q = QuantizedLayer(core, activation: activation, weightQuantizer: wq, biasQuantizer: bq)
        q.requantize = config.requantize
        model.replaceLayer(at: i, with: q)
      }
    }
    return outputLabel
  }

  /// Decides which node outputs get a quantizer, then inserts them back to front so indices stay
  /// valid.
  static func insertActivationQuantizers(_ qm: QuantizedModel, region: Set<String>, outputLabel: [String: String],
                                         first: String?, last: String?) {
    let model = qm.model, config = qm.config
    let lastIndex = last.flatMap { model.index(of: $0) }
    var sites: [(after: Int, label: String, bits: Int, role: FixNeuron.Role, signed: Bool)] = []
    for i in model.nodes.indices where region.contains(model.nodes[i].name) {
      let node = model.nodes[i]
      guard needsOutputQuantizer(model, i) else { continue }
      let site = tail(model, i)
      let label = outputLabel[node.name] ?? model.nodes[site].name
      let isInput = model.inputNodes.contains(i)
      let lastOverride = (node.name == last || isFeedingLast(model, i, lastIndex)) ? config.lastLayerBit : nil
      let override = isInput ? config.firstLayerBit : (node.name == first ? nil : lastOverride)
      let residual = isInput ? nil : readOnlyBySums(model, site) ? config.residualBit : nil
      let bits = config.nodesBit[label] ?? override ?? residual ?? config.activationBit
      let signed = !(config.unsignedActivations && nonNegative(model, site))
      sites.append((site, label, bits, isInput ? .input : .activation, signed))
    }
    for site in sites.sorted(by: { $0.after > $1.after }) {
      var spec = activationSpec(site.label, site.bits, site.role, config)
      spec.signed = site.signed
      let q = FixNeuron(label: site.label, role: site.role, spec: spec)
      qm.registerNode(q)
      model.insert(site.label + ".fix", q, after: site.after)
    }
  }
}

extension Prepare {
  static func checkNames(_ model: Model, _ config: QuantizationConfig) throws {
    if let n = model.nodes.first(where: { $0.layer is any QuantizerNode || $0.layer is any WeightQuantized }) {
      throw QuantizationError("node \(n.name) (\(n.layer.kind)) is already quantized: Prepare takes a float model")
    }
    let names = Set(model.nodes.map(\.name))
    func known(_ n: String) -> Bool { names.contains(n) || names.contains(n.replacingOccurrences(of: ".weight", with: "")) }
    for (option, list) in [("ignore_nodes", config.ignoreNodes), ("input_nodes", config.inputNodes), ("output_nodes", config.outputNodes),
                           ("nodes_bit", Array(config.nodesBit.keys)), ("nodes_method", Array(config.nodesMethod.keys))] {
      if let bad = list.first(where: { !known($0) }) {
        throw QuantizationError("\(option): no node named '\(bad)' in the model (nodes: \(model.nodes.prefix(8).map(\.name).joined(separator: ", ")), ...)")
      }
    }
  }

  /// Nodes to quantize: after input_nodes (or all), up to output_nodes, minus ignore_nodes.
  static func quantizedRegion(_ model: Model, _ config: QuantizationConfig) -> Set<Int> {
    var inside = Set(model.nodes.indices)
    if !config.inputNodes.isEmpty {
      let starts = Set(config.inputNodes.compactMap { model.index(of: $0) })
      var reach = Set<Int>()
      for i in model.nodes.indices where starts.contains(i) || model.nodes[i].inputs.contains(where: reach.contains) { reach.insert(i) }
      inside = reach
    }
    if !config.outputNodes.isEmpty {
      let ends = config.outputNodes.compactMap { model.index(of: $0) }
      var before = Set(ends)
      for i in model.nodes.indices.reversed() where before.contains(i) { before.formUnion(model.nodes[i].inputs) }
      inside.formIntersection(before)
    }
    for name in config.ignoreNodes { if let i = model.index(of: name) { inside.remove(i) } }
    return inside
  }

  static func weightBits(_ name: String, _ override: Int?, _ config: QuantizationConfig) -> Int {
    config.nodesBit[name + ".weight"] ?? config.nodesBit[name] ?? override ?? config.weightBit
  }

  /// Per-channel float weight scales (`per_channel_weights`); with multiplier requantization only
  /// for layers with an integer form and output channels on the weight's first axis (Conv, Linear):
  /// the others (ConvTranspose) keep a power-of-two format, which their integer path needs.
  static func perChannelWeights(_ core: any WeightBearing, _ config: QuantizationConfig) -> Bool {
    guard config.perChannelWeights else { return false }
    if config.requantize == .powerOfTwo { return true }
    return core is any IntegerWeightBearing && core.outputChannelAxis == 0
  }

  static func weightQuantizer(_ name: String, _ bits: Int, _ method: CalibrationMethod, _ config: QuantizationConfig,
                              perChannel: Bool) -> FixNeuron {
    let spec = perChannel
      ? QuantSpec(bits: bits, scheme: .symmetric, channelAxis: 0, rounding: config.weightRounding,
                  method: [.nonOverflow, .minDiffs, .minDiffsDepthwise].contains(method) ? .minMax : method, narrowRange: true)
      : QuantSpec(bits: bits, rounding: config.weightRounding, method: method)
    return FixNeuron(label: name + ".weight", role: .weight, spec: spec)
  }

  static func biasQuantizer(_ name: String, _ weightBits: Int, _ config: QuantizationConfig, perChannel: Bool) -> FixNeuron {
    let bits = config.biasBit ?? weightBits
    let spec = perChannel
      ? QuantSpec(bits: config.biasBit ?? 16, scheme: .symmetric, rounding: config.weightRounding, method: .minMax)
      : QuantSpec(bits: bits, rounding: config.weightRounding, method: config.defaultWeightMethod)
    return FixNeuron(label: name + ".bias", role: .bias, spec: spec)
  }

  static func activationSpec(_ label: String, _ bits: Int, _ role: FixNeuron.Role, _ config: QuantizationConfig) -> QuantSpec {
    let method = config.nodesMethod[label] ?? config.method
    let usable: CalibrationMethod = method == .minDiffsDepthwise ? .minDiffs : method
    return QuantSpec(bits: bits, scheme: config.activationScheme, rounding: role == .input ? config.weightRounding : config.activationRounding,
                     method: usable, narrowRange: config.archType == .dpucadf8h)
  }

  /// The one reader of node i's output, when it has exactly one.
  static func soleConsumer(_ model: Model, _ i: Int) -> Int? {
    let c = model.consumers(of: i)
    return c.count == 1 ? c[0] : nil
  }

  /// Whether node i's output cannot be negative: a ReLU / ReLU6 (also absorbed by a quantized
  /// layer), or a sign-preserving layer (pool, data movement) of such a value.
  static func nonNegative(_ model: Model, _ i: Int) -> Bool {
    let layer = model.nodes[i].layer
    if let a = layer as? any ActivationLayer, a.fusedActivation?.isNonNegative == true { return true }
    if let w = layer as? any WeightQuantized { return w.activation.isNonNegative }
    guard model.nodes[i].inputs.count == 1, (layer as? any SignPreserving)?.preservesSign == true else { return false }
    return nonNegative(model, model.nodes[i].inputs[0])
  }

  /// Whether node i's output (or its fused tail's) is quantized.
  static func needsOutputQuantizer(_ model: Model, _ i: Int) -> Bool {
    if gridPreserving(model.nodes[i].layer) { return false }
    // members of a fused pattern other than its head are quantized by the head's site
    return !isFusedActivation(model, i)
  }

  /// Layers whose output stays on the input's grid.
  static func gridPreserving(_ layer: any Layer) -> Bool { (layer as? any GridPreserving)?.preservesGrid == true }

  /// A fusable activation whose input is a residual sum read by nothing else (the sum absorbs it).
  static func isFusedActivation(_ model: Model, _ i: Int) -> Bool {
    let node = model.nodes[i]
    guard (node.layer as? any ActivationLayer)?.fusedActivation != nil, node.inputs.count == 1 else { return false }
    let p = node.inputs[0]
    return model.nodes[p].layer is any ResidualSum && model.consumers(of: p) == [i]
  }

  /// simulate_dpu: layers the DPU computes its own way get their DPU form (`DPUSimulated`).
  static func useDPUForms(_ model: Model, _ region: Set<String>) {
    var shapes: [Int: Shape]? = nil
    for i in model.nodes.indices {
      guard let layer = model.nodes[i].layer as? any DPUSimulated, let input = model.nodes[i].inputs.first else { continue }
      let inputShape = { () -> Shape? in
        if shapes == nil { shapes = model.outputShapes() }
        return shapes?[input]
      }
      if let replacement = layer.dpuForm(input: inputShape, quantized: region.contains(model.nodes[i].name)) {
        model.replaceLayer(at: i, with: replacement)
      }
    }
  }

  /// Gives each quantized layer its input and output quantizers.
  static func linkQuantizers(_ qm: QuantizedModel) {
    let model = qm.model
    for (i, node) in model.nodes.enumerated() {
      guard let layer = node.layer as? any WeightQuantized else { continue }
      layer.inputQuantizer = quantizerFeeding(qm, node.inputs[0])
      layer.outputQuantizer = soleConsumer(model, i).flatMap(qm.activationQuantizer(atNode:))
      layer.outputQuantizer?.clampsNegatives = layer.activation == .relu
    }
  }

  /// The FixNeuron whose grid the output of node i is on (through grid-preserving layers).
  static func quantizerFeeding(_ qm: QuantizedModel, _ i: Int) -> FixNeuron? {
    var j = i
    while true {
      if let q = qm.activationQuantizer(atNode: j) { return q }
      guard qm.model.nodes[j].inputs.count == 1, gridPreserving(qm.model.nodes[j].layer) else { return nil }
      j = qm.model.nodes[j].inputs[0]
    }
  }

  /// The quantizer of node i's output: the FixNeuron reading it, or reading its fused activation.
  static func outputQuantizer(_ qm: QuantizedModel, _ i: Int) -> FixNeuron? {
    guard let c = soleConsumer(qm.model, i) else { return nil }
    if let q = qm.activationQuantizer(atNode: c) { return q }
    guard isFusedActivation(qm.model, c), let n = soleConsumer(qm.model, c) else { return nil }
    return qm.activationQuantizer(atNode: n)
  }

  /// Whether every reader of node i's output is a residual sum (the branch before the sum).
  static func readOnlyBySums(_ model: Model, _ i: Int) -> Bool {
    let readers = model.consumers(of: i)
    return !readers.isEmpty && !model.outputNodes.contains(i) && readers.allSatisfy { model.nodes[$0].layer is any ResidualSum }
  }

  /// The last node of i's fused pattern (its activation, if fused).
  static func tail(_ model: Model, _ i: Int) -> Int {
    if let c = soleConsumer(model, i), isFusedActivation(model, c) { return c }
    return i
  }

  /// Whether node i reaches the last weight-bearing layer through a chain of single readers that
  /// are grid-preserving or averaging pools (the head's input then takes last_layer_bit).
  static func isFeedingLast(_ model: Model, _ i: Int, _ last: Int?) -> Bool {
    guard let last else { return false }
    var j = i
    while let c = soleConsumer(model, j) {
      if c == last { return true }
      let layer = model.nodes[c].layer
      guard gridPreserving(layer) || layer is any AveragePooling else { return false }
      j = c
    }
    return false
  }

  /// Concat inputs and outputs, and pooling outputs, that must share positions.
  static func alignments(_ qm: QuantizedModel) {
    let m = qm.model
    let outputs = Set(m.outputNodes)
    for (i, node) in m.nodes.enumerated() {
      if node.layer is any Concatenation,
         qm.config.alignConcat == .all || (qm.config.alignConcat == .outputsOnly && outputs.contains(tail(m, i) + 1)) {
        // the inputs and the output share one position: the DPU concatenates without rescaling
        var group: [FixNeuron] = []
        for q in node.inputs.compactMap({ quantizerFeeding(qm, $0) }) + [outputQuantizer(qm, i)].compactMap({ $0 })
        where !group.contains(where: { $0 === q }) { group.append(q) }
        if group.count > 1 { qm.alignmentGroups.append(group) }
      }
      if qm.config.alignPool, node.layer is any AveragePooling, let input = quantizerFeeding(qm, node.inputs[0]),
         let out = soleConsumer(m, i).flatMap(qm.activationQuantizer(atNode:)), input.spec.bits == out.spec.bits {
        qm.positionTies.append((out, input))
      }
      // a layer of a grid-preserving kind that has its own quantizer here (padding with a non-zero
      // value) keeps its input's position too (vai_q align_pad)
      if let g = node.layer as? any GridPreserving, !g.preservesGrid, node.inputs.count == 1,
         let input = quantizerFeeding(qm, node.inputs[0]), let out = outputQuantizer(qm, i), input.spec.bits == out.spec.bits {
        qm.positionTies.append((out, input))
      }
    }
  }
}
