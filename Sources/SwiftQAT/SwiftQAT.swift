// swift-qat in one import: `import SwiftQAT` gives a training script every user-facing module —
// tensors and autodiff, layers and optimizers, data loading, quantization (FixNeuron, calibration,
// CLE, bias correction, AdaRound, QAT sessions), ONNX import and export, the deploy format, the
// exporter, the integer simulator and the training runs. The modules stay separate products for
// packages that want fewer dependencies (e.g. only TensorCore and Autograd).
@_exported import Autograd
@_exported import Datasets
@_exported import DeployFormat
@_exported import Export
@_exported import HDF5IO
@_exported import Layers
@_exported import ONNX
@_exported import QAT
@_exported import Simulator
@_exported import TensorCore
@_exported import Training
