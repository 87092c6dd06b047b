import CKernels

/// The activation applied to an exact sum before requantization: fused into a conv / linear /
/// add node or applied by a rescaling node (the DPU's Conv + ReLU / ReLU6 / LeakyReLU patterns).
/// The one activation vocabulary of quantized layers, the deploy graph and the integer simulator.
public enum FusedActivation: String, Sendable, Codable, CaseIterable {
  /// No activation ("none" in files; not `.none`, which an optional would read as nil).
  case identity = "none"
  case relu, relu6
  /// LeakyReLU with the DPU's slope 26/256.
  case leakyRelu = "leaky_relu_26_256"

  /// The DPU's LeakyReLU slope (vai_q simulate_dpu).
  public static let leakySlope: Float = 26.0 / 256

  /// Whether the output can never be negative.
  public var isNonNegative: Bool { self == .relu || self == .relu6 }

  var c: ck_activation {
    switch self {
    case .identity: CK_ACT_NONE
    case .relu: CK_ACT_RELU
    case .relu6: CK_ACT_RELU6
    case .leakyRelu: CK_ACT_LEAKY_DPU
    }
  }

  /// Extra fractional bits the activation works at (relu6 and leaky multiply by 256).
  var extraBits: Int { self == .relu6 || self == .leakyRelu ? 8 : 0 }
}
