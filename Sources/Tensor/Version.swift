/// The swift-qat release (CHANGELOG.md), printed by `qat --version` and recorded by the tools.
public let swiftQATVersion = "0.3.0"
