import HDF5IO
import Layers

/// Built-in network definitions, selected by name at file and command-line boundaries.
public enum Architecture: String, CaseIterable, Sendable, Codable {
  case resnet20, resnet32, resnet44, resnet56
  /// The MobileNet-v2-style CIFAR network (Layers/Zoo/CIFARMobileNetV2.swift).
  case mobilenetv2 = "mobilenetv2"

  public func make(classes: Int = 10, seed: UInt64 = 0) throws -> Model {
    switch self {
    case .resnet20: try CIFARResNet.make(depth: 20, classes: classes, seed: seed)
    case .resnet32: try CIFARResNet.make(depth: 32, classes: classes, seed: seed)
    case .resnet44: try CIFARResNet.make(depth: 44, classes: classes, seed: seed)
    case .resnet56: try CIFARResNet.make(depth: 56, classes: classes, seed: seed)
    case .mobilenetv2: try CIFARMobileNetV2.make(classes: classes, seed: seed)
    }
  }

  /// Parses a name such as "resnet20" (also "cifar_resnet20", as in the pretrained file's
  /// attribute); throws listing the known names.
  public static func named(_ name: String) throws -> Architecture {
    let key = name.lowercased().replacingOccurrences(of: "cifar_", with: "").replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
    guard let a = Architecture(rawValue: key) else {
      throw TrainingError("unknown architecture '\(name)' (known: \(allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return a
  }

  /// The architecture name stored in a weights file (its `architecture` attribute).
  public static func storedName(_ path: String) throws -> String {
    guard let name = try HDF5File(path: path, mode: .read).stringAttribute("architecture"), !name.isEmpty else {
      throw TrainingError("\(path): no architecture attribute; pass --arch")
    }
    return try named(name).rawValue
  }

  /// Builds the architecture and loads float weights from an HDF5 checkpoint. When `name` is nil,
  /// the file's `architecture` attribute decides.
  public static func loadFloatModel(weights path: String, architecture name: String?) throws -> Model {
    let file = try HDF5File(path: path, mode: .read)
    let stored = try file.stringAttribute("architecture")
    guard let chosen = name ?? stored else {
      throw TrainingError("\(path): no architecture attribute; pass --arch")
    }
    let model = try named(chosen).make()
    try Checkpoint.load(into: model, from: path)
    return model
  }
}

import Foundation
