// swift-tools-version:6.1
// A user's own package using swift-qat as a dependency (by path here; by URL and version in a real
// project): `swift run -c release` trains a small CNN, quantizes it, runs a short QAT, exports a
// deploy model and checks the integer simulator against the fake-quant model.
import PackageDescription

let package = Package(
  name: "train-quantize-export",
  dependencies: [.package(name: "swift-qat", path: "../..")],
  targets: [
    .executableTarget(name: "TrainQuantizeExport", dependencies: [.product(name: "SwiftQAT", package: "swift-qat")]),
  ]
)
