// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "swift-qat",
  // Linux (Debian / Ubuntu): the system libraries are Debian's -dev packages (scripts/setup).
  products: [
    // One import for scripts (re-exports every user-facing module below), or the modules one by one.
    .library(name: "SwiftQAT", targets: ["SwiftQAT"]),
    .library(name: "TensorCore", targets: ["TensorCore"]),
    .library(name: "Autograd", targets: ["Autograd"]),
    .library(name: "Layers", targets: ["Layers"]),
    .library(name: "Datasets", targets: ["Datasets"]),
    .library(name: "QAT", targets: ["QAT"]),
    .library(name: "ONNX", targets: ["ONNX"]),
    .library(name: "HDF5IO", targets: ["HDF5IO"]),
    .library(name: "DeployFormat", targets: ["DeployFormat"]),
    .library(name: "Export", targets: ["Export"]),
    .library(name: "Simulator", targets: ["Simulator"]),
    .library(name: "Training", targets: ["Training"]),
    .executable(name: "qat-bench", targets: ["QATBench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    // `swift package generate-documentation` (DocC); a build-tool plugin only, nothing links it.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // System libraries from Debian's -dev packages (module map + shim header each).
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
    .systemLibrary(name: "CLAPACKE", path: "Sources/CLAPACKE"),
    .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),
    .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
    .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
    .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
    // Hot loops in C, compiled for several CPU levels (target_clones) without unsafe flags.
    .target(name: "CKernels", path: "Sources/CKernels", linkerSettings: [.linkedLibrary("gomp"), .linkedLibrary("m")]),

    .target(name: "TensorCore", dependencies: ["CKernels", "CBLAS", "CLAPACKE", "CDNNL"], path: "Sources/Tensor"),
    .target(name: "Autograd", dependencies: ["TensorCore"], path: "Sources/Autograd"),
    .target(name: "HDF5IO", dependencies: ["CHDF5"], path: "Sources/HDF5IO"),
    .target(name: "Datasets", dependencies: ["TensorCore", "HDF5IO", "CTurboJPEG", "CPNG", "CZlib"], path: "Sources/Data"),
    .target(name: "Layers", dependencies: ["TensorCore", "Autograd", "HDF5IO", "CKernels"], path: "Sources/Layers"),
    .target(name: "DeployFormat", dependencies: ["TensorCore", "HDF5IO"], path: "Sources/Deploy"),
    .target(name: "ONNX", dependencies: ["TensorCore", "Autograd", "Layers", "DeployFormat", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/ONNX", exclude: ["Proto/onnx_subset.proto"]),
    .target(name: "QAT", dependencies: ["TensorCore", "Autograd", "Layers", "CKernels"], path: "Sources/QAT"),
    .target(name: "Export", dependencies: ["TensorCore", "Layers", "QAT", "DeployFormat"], path: "Sources/Export"),
    .target(name: "Simulator", dependencies: ["TensorCore", "DeployFormat", "HDF5IO", "CKernels"], path: "Sources/Simulator"),
    .target(name: "Training", dependencies: ["TensorCore", "Autograd", "Layers", "Datasets", "HDF5IO", "QAT", "Export", "Simulator", "DeployFormat",
                                            "ONNX"], path: "Sources/Training"),
    .target(name: "SwiftQAT", dependencies: ["TensorCore", "Autograd", "Layers", "Datasets", "HDF5IO", "QAT", "ONNX", "DeployFormat",
                                             "Export", "Simulator", "Training"], path: "Sources/SwiftQAT"),
    .executableTarget(name: "qat", dependencies: ["TensorCore", "Autograd", "Layers", "Datasets", "Training", "HDF5IO", "QAT", "Export", "Simulator", "DeployFormat", "ONNX",
                                                  .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "Sources/CLI"),

    .executableTarget(name: "cifar10-finetune", dependencies: ["TensorCore", "Layers", "Datasets", "Training",
                                                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "recipes/cifar10-finetune"),
    .target(name: "RecipeOptions", dependencies: ["Training", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "recipes/RecipeOptions"),
    .executableTarget(name: "cifar10-train", dependencies: ["Training", "RecipeOptions",
                                                            .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "recipes/cifar10-train"),
    .executableTarget(name: "cifar10-mobilenet", dependencies: ["Training", "RecipeOptions",
                                                                .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "recipes/cifar10-mobilenet"),
    .executableTarget(name: "cifar10-qat", dependencies: ["TensorCore", "Autograd", "Layers", "Datasets", "Training", "QAT",
                                                          "Export", "Simulator",
                                                          .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "recipes/cifar10-qat"),
    .executableTarget(name: "QATBench", dependencies: ["TensorCore", "Autograd", "Layers", "Datasets", "Training", "QAT", "Export", "Simulator", "DeployFormat", "CBLAS", "CKernels", "ONNX", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Bench"),

    .target(name: "TestSupport", dependencies: ["TensorCore", "Autograd"], path: "Tests/TestSupport"),
    .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport", "CKernels"]),
    .testTarget(name: "AutogradTests", dependencies: ["Autograd", "TensorCore", "TestSupport"]),
    .testTarget(name: "HDF5IOTests", dependencies: ["HDF5IO", "TestSupport"]),
    .testTarget(name: "QATTests", dependencies: ["QAT", "Layers", "Autograd", "TensorCore", "TestSupport", "HDF5IO"]),
    .testTarget(name: "ExportTests", dependencies: ["Export", "Simulator", "DeployFormat", "Training", "QAT", "Layers", "Autograd", "HDF5IO",
                                                    "TensorCore", "TestSupport", "Datasets"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TensorCore", "HDF5IO", "TestSupport"]),
    .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Layers", "Autograd", "TensorCore", "TestSupport", "HDF5IO", "QAT", "Export",
                                                  "Simulator", "Training", "Datasets",
                                                  .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
    .testTarget(name: "LayersTests", dependencies: ["Layers", "Autograd", "TensorCore", "HDF5IO", "TestSupport"]),
    // Runs the built `qat` executable (hostile options, FIFOs, kill tests).
    .testTarget(name: "CLITests", dependencies: ["TensorCore", "TestSupport"]),
  ]
)
