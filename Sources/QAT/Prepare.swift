import Autograd
import Layers
import TensorCore

/// Rewrites a float model for quantization (`QuantizedModel`). The model is modified in place.
///
/// Placement follows the DPU's fused patterns: Conv/Linear (+ folded BN) + ReLU / ReLU6 /
/// LeakyReLU, and Add + ReLU, carry one quantizer after the last member; ops that keep values on
/// the grid (max pool, slice, pad, flatten, reshape, identity, ReLU on a quantized tensor,
/// nearest upsampling) carry none; everything else (avg pool, concat, BN that could not be
/// folded, other activations, the model input) gets its own.
public enum Prepare {
  public static func quantize(_ model: Model, config: QuantizationConfig) throws -> QuantizedModel {
    try config.validate()
    try checkNames(model, config)
    if config.foldBatchNorm && !config.trainable { BatchNormFolding.foldAll(in: model) }
    model.setPhase(.inference)
    let qm = QuantizedModel(model: model, config: config)
    defer { if let f = config.fixedFractionalBits { for q in qm.quantizers { q.spec.fixedFractionalBits = f } } }
    let regionNames = Set(quantizedRegion(model, config).map { model.nodes[$0].name })
    let firstName = model.nodes.first { $0.layer is Conv2D || $0.layer is Linear }?.name
    let lastName = model.nodes.last { $0.layer is Conv2D || $0.layer is Linear }?.name
    if config.simulateDPU { useDPUSlopes(model); useDPUPooling(model, regionNames) }

    // Weights: conv / linear layers in the region become quantized layers that absorb a fused
    // activation (whose node is removed; the output quantizer takes its name).
    var outputLabel: [String: String] = [:]  // conv/linear node -> label of its output tensor
    let weightNodes = model.nodes.indices.filter { (model.nodes[$0].layer is Conv2D || model.nodes[$0].layer is Linear)
                                                   && regionNames.contains(model.nodes[$0].name) }
    for i in weightNodes.reversed() {
      let name = model.nodes[i].name
      let override = name == firstName ? config.firstLayerBit : (name == lastName ? config.lastLayerBit : nil)
      let bits = weightBits(name, override, config)
      let method = config.nodesMethod[name + ".weight"] ?? config.nodesMethod[name] ?? config.defaultWeightMethod
      var activation: FusedActivation? = nil
      var label = name
      var batchNorm: BatchNorm2D? = nil
      if config.trainable, model.consumers(of: i).count == 1,
         let bn = model.nodes[model.consumers(of: i)[0]].layer as? BatchNorm2D {
        batchNorm = bn
        label = model.nodes[model.consumers(of: i)[0]].name
        model.bypass(model.consumers(of: i)[0])
      }
      let consumers = model.consumers(of: i)
      if consumers.count == 1, let fused = fusedActivation(model.nodes[consumers[0]].layer, config), regionNames.contains(model.nodes[consumers[0]].name) {
        activation = fused
        label = model.nodes[consumers[0]].name
        model.bypass(consumers[0])
      }
      outputLabel[name] = label
      if let bn = batchNorm, let core = foldCore(model.nodes[i].layer) {
        model.replaceLayer(at: i, with: QuantizedBatchNormFold(core, bn, activation: activation,
                                                               weightQuantizer: weightQuantizer(name, bits, method, config),
                                                               biasQuantizer: biasQuantizer(name, bits, config)))
      } else if let conv = model.nodes[i].layer as? Conv2D {
        let depthwise = conv.geometry.groups > 1 && conv.geometry.groups == conv.inChannels
        let wm: CalibrationMethod = (method == .minDiffsDepthwise && depthwise) ? .nonOverflow : method
        model.replaceLayer(at: i, with: QuantizedConv2D(conv, activation: activation, weightQuantizer: weightQuantizer(name, bits, wm, config),
                                                        biasQuantizer: conv.bias.map { _ in biasQuantizer(name, bits, config) }))
      } else if let linear = model.nodes[i].layer as? Linear {
        model.replaceLayer(at: i, with: QuantizedLinear(linear, activation: activation, weightQuantizer: weightQuantizer(name, bits, method, config),
                                                        biasQuantizer: linear.bias.map { _ in biasQuantizer(name, bits, config) }))
      }
    }

    // Activations: decide which node outputs get a quantizer, then insert them back to front so
    // indices stay valid.
    let lastIndex = lastName.flatMap { model.index(of: $0) }
    var sites: [(after: Int, label: String, bits: Int, role: FixNeuron.Role, signed: Bool)] = []
    for i in model.nodes.indices where regionNames.contains(model.nodes[i].name) {
      let node = model.nodes[i]
      guard needsOutputQuantizer(model, i) else { continue }
      let site = tail(model, i)
      let label = outputLabel[node.name] ?? model.nodes[site].name
      let lastOverride = (node.name == lastName || isFeedingLast(model, i, lastIndex)) ? config.lastLayerBit : nil
      let override = node.layer is Input ? config.firstLayerBit : (node.name == firstName ? nil : lastOverride)
      let residual = node.layer is Input ? nil : readOnlyByAdds(model, site) ? config.residualBit : nil
      let bits = config.nodesBit[label] ?? override ?? residual ?? config.activationBit
      let signed = !(config.unsignedActivations && nonNegative(model, site))
      sites.append((site, label, bits, node.layer is Input ? .input : .activation, signed))
    }
    for site in sites.sorted(by: { $0.after > $1.after }) {
      var spec = activationSpec(site.label, site.bits, site.role, config)
      spec.signed = site.signed
      model.insert(site.label + ".fix", FixNeuron(label: site.label, role: site.role, spec: spec), after: site.after)
    }
    linkQuantizers(model)
    alignments(qm)
    return qm
  }
}

extension Prepare {
  static func checkNames(_ model: Model, _ config: QuantizationConfig) throws {
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

  static func foldCore(_ layer: any Layer) -> QuantizedBatchNormFold.Core? {
    if let c = layer as? Conv2D { return .conv(c) }
    if let l = layer as? Linear { return .linear(l) }
    return nil
  }

  static func weightBits(_ name: String, _ override: Int?, _ config: QuantizationConfig) -> Int {
    config.nodesBit[name + ".weight"] ?? config.nodesBit[name] ?? override ?? config.weightBit
  }

  static func weightQuantizer(_ name: String, _ bits: Int, _ method: CalibrationMethod, _ config: QuantizationConfig) -> FixNeuron {
    let spec = config.perChannelWeights
      ? QuantSpec(bits: bits, scheme: .symmetric, channelAxis: 0, rounding: config.weightRounding,
                  method: [.nonOverflow, .minDiffs, .minDiffsDepthwise].contains(method) ? .minMax : method, narrowRange: true)
      : QuantSpec(bits: bits, rounding: config.weightRounding, method: method)
    return FixNeuron(label: name + ".weight", role: .weight, spec: spec)
  }

  static func biasQuantizer(_ name: String, _ weightBits: Int, _ config: QuantizationConfig) -> FixNeuron {
    let bits = config.biasBit ?? weightBits
    let spec = config.perChannelWeights
      ? QuantSpec(bits: 16, scheme: .symmetric, rounding: config.weightRounding, method: .minMax)
      : QuantSpec(bits: bits, rounding: config.weightRounding, method: config.defaultWeightMethod)
    return FixNeuron(label: name + ".bias", role: .bias, spec: spec)
  }

  static func activationSpec(_ label: String, _ bits: Int, _ role: FixNeuron.Role, _ config: QuantizationConfig) -> QuantSpec {
    let method = config.nodesMethod[label] ?? config.method
    let usable: CalibrationMethod = method == .minDiffsDepthwise ? .minDiffs : method
    return QuantSpec(bits: bits, scheme: config.activationScheme, rounding: role == .input ? config.weightRounding : config.activationRounding,
                     method: usable, narrowRange: config.archType == .dpucadf8h)
  }

  /// Whether node i's output cannot be negative: a ReLU / ReLU6 (also absorbed by a conv /
  /// linear layer), or a pooling / grid-preserving op of such a value.
  static func nonNegative(_ model: Model, _ i: Int) -> Bool {
    let layer = model.nodes[i].layer
    if layer is ReLU || layer is ReLU6 { return true }
    if let w = layer as? any WeightQuantized { return w.activation == .relu || w.activation == .relu6 }
    if let q = layer as? FixNeuron { return !q.spec.signed }
    let pooling = layer is MaxPool2D || layer is AvgPool2D || layer is GlobalAvgPool || layer is DPUAvgPool
    guard model.nodes[i].inputs.count == 1, pooling || gridPreserving(layer) else { return false }
    return nonNegative(model, model.nodes[i].inputs[0])
  }

  /// Whether node i's output (or its fused tail's) is quantized.
  static func needsOutputQuantizer(_ model: Model, _ i: Int) -> Bool {
    let layer = model.nodes[i].layer
    if layer is FixNeuron { return false }
    if gridPreserving(layer) { return false }
    // members of a fused pattern other than its head are quantized by the head's site
    if isFusedActivation(model, i) { return false }
    return true
  }

  /// Ops whose output stays on the input's grid.
  static func gridPreserving(_ layer: any Layer) -> Bool {
    layer is MaxPool2D || layer is Slice || layer is Pad || layer is Flatten || layer is Reshape || layer is Identity
      || layer is Upsample || layer is Dropout || layer is ReLU
  }

  /// An activation fused to the add before it (conv / linear activations are absorbed).
  static func isFusedActivation(_ model: Model, _ i: Int) -> Bool {
    let node = model.nodes[i]
    guard node.layer is ReLU || node.layer is ReLU6 || node.layer is LeakyReLU, node.inputs.count == 1 else { return false }
    let p = node.inputs[0]
    return model.nodes[p].layer is Add && model.consumers(of: p) == [i]
  }

  /// The activation a conv / linear layer absorbs, if `layer` is one it can.
  static func fusedActivation(_ layer: any Layer, _ config: QuantizationConfig) -> FusedActivation? {
    if layer is ReLU { return .relu }
    if layer is ReLU6 { return .relu6 }
    if let l = layer as? LeakyReLU, l.negativeSlope == FusedActivation.leakySlope { return .leakyRelu }
    return nil
  }

  /// simulate_dpu: LeakyReLU slopes become the DPU's 26/256.
  static func useDPUSlopes(_ model: Model) {
    for i in model.nodes.indices where model.nodes[i].layer is LeakyReLU {
      model.replaceLayer(at: i, with: LeakyReLU(negativeSlope: FusedActivation.leakySlope))
    }
  }

  /// simulate_dpu: average pools compute sum · k / 2^n (exact multipliers for power-of-two areas).
  static func useDPUPooling(_ model: Model, _ region: Set<String>) {
    for i in model.nodes.indices where region.contains(model.nodes[i].name) {
      if let p = model.nodes[i].layer as? AvgPool2D, p.countIncludePad || (p.geometry.padH == 0 && p.geometry.padW == 0) {
        model.replaceLayer(at: i, with: DPUAvgPool(geometry: p.geometry, area: p.geometry.kernelH * p.geometry.kernelW))
      } else if model.nodes[i].layer is GlobalAvgPool, let area = spatialArea(model, i) {
        model.replaceLayer(at: i, with: DPUAvgPool(geometry: nil, area: area))
      }
    }
  }

  /// H·W of node i's input, from a shape pass on a batch of one.
  static func spatialArea(_ model: Model, _ i: Int) -> Int? {
    guard let input = model.inputNodes.first.map({ model.nodes[$0].layer as? Input }) ?? nil else { return nil }
    var area: Int? = nil
    _ = model.forward([Tensor.zeros(Shape([1] + input.shape.dims))]) { j, t in
      if j == model.nodes[i].inputs[0], t.rank == 4 { area = t.shape[2] * t.shape[3] }
    }
    return area
  }

  /// Gives each quantized conv / linear layer its input and output quantizers.
  static func linkQuantizers(_ model: Model) {
    for (i, node) in model.nodes.enumerated() {
      guard let layer = node.layer as? any WeightQuantized else { continue }
      layer.inputQuantizer = quantizerFeeding(model, node.inputs[0])
      let consumers = model.consumers(of: i)
      layer.outputQuantizer = consumers.count == 1 ? model.nodes[consumers[0]].layer as? FixNeuron : nil
      layer.outputQuantizer?.clampsNegatives = layer.activation == .relu
    }
  }

  /// The FixNeuron whose grid the output of node i is on (through grid-preserving ops).
  static func quantizerFeeding(_ model: Model, _ i: Int) -> FixNeuron? {
    var j = i
    while true {
      if let q = model.nodes[j].layer as? FixNeuron { return q }
      guard model.nodes[j].inputs.count == 1, gridPreserving(model.nodes[j].layer) else { return nil }
      j = model.nodes[j].inputs[0]
    }
  }

  /// Whether every reader of node i's output is a residual Add (the branch before the sum).
  static func readOnlyByAdds(_ model: Model, _ i: Int) -> Bool {
    let readers = model.consumers(of: i)
    return !readers.isEmpty && !model.outputNodes.contains(i) && readers.allSatisfy { model.nodes[$0].layer is Add }
  }

  /// The last node of i's fused pattern (its activation, if fused).
  static func tail(_ model: Model, _ i: Int) -> Int {
    let consumers = model.consumers(of: i)
    if consumers.count == 1, isFusedActivation(model, consumers[0]) { return consumers[0] }
    return i
  }

  static func isFeedingLast(_ model: Model, _ i: Int, _ last: Int?) -> Bool {
    guard let last else { return false }
    var j = i
    while true {
      let c = model.consumers(of: j)
      guard c.count == 1 else { return false }
      if c[0] == last { return true }
      guard gridPreserving(model.nodes[c[0]].layer) || model.nodes[c[0]].layer is GlobalAvgPool || model.nodes[c[0]].layer is DPUAvgPool else { return false }
      j = c[0]
    }
  }

  /// Concat inputs and pooling outputs that must share positions.
  static func alignments(_ qm: QuantizedModel) {
    let m = qm.model
    func quantizerFeeding(_ i: Int) -> String? { Prepare.quantizerFeeding(m, i)?.label }
    let outputs = Set(m.outputNodes)
    for (i, node) in m.nodes.enumerated() {
      if node.layer is Concat, qm.config.alignConcat == 0 || (qm.config.alignConcat == 1 && outputs.contains(Prepare.tail(m, i) + 1)) {
        let labels = node.inputs.compactMap(quantizerFeeding)
        if labels.count > 1 { qm.alignmentGroups.append(labels) }
      }
      if qm.config.alignPool, node.layer is AvgPool2D || node.layer is GlobalAvgPool || node.layer is DPUAvgPool,
         let input = quantizerFeeding(node.inputs[0]),
         let out = m.nodes.first(where: { ($0.layer as? FixNeuron)?.label == node.name })?.layer as? FixNeuron,
         let inQ = qm.quantizer(labelled: input), inQ.spec.bits == out.spec.bits {
        qm.poolTies.append((node.name, input))
      }
    }
  }
}
