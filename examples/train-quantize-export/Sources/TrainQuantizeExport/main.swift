import Foundation
import SwiftQAT

// Generated 16x16 patterns of four classes (no download), loaded in batches of 64.
let (trainX, trainY) = SyntheticShapes.make(count: 1024, seed: 1)
let (testX, testY) = SyntheticShapes.make(count: 256, seed: 2)
let train = DataLoader(dataset: try TensorDataset(images: trainX, labels: trainY), batchSize: 64, shuffle: true, seed: 1, workers: 0)

// A small CNN: conv-BN-ReLU, max pool, depthwise + pointwise conv-BN-ReLU6, global pool, linear.
var b = ModelBuilder(seed: 7)
var x = b.input(shape: [1, 16, 16])
x = b.conv2d("conv1", x, 1, 8, kernel: 3, padding: 1, bias: false)
x = b.add("bn1", BatchNorm2D(8), x)
x = b.add("relu1", ReLU(), x)
x = b.add("pool", MaxPool2D(kernel: 2), x)
x = b.conv2d("dw", x, 8, 8, kernel: 3, padding: 1, groups: 8, bias: false)
x = b.add("bn2", BatchNorm2D(8), x)
x = b.add("relu2", ReLU6(), x)
x = b.conv2d("pw", x, 8, 16, kernel: 1, bias: false)
x = b.add("bn3", BatchNorm2D(16), x)
x = b.add("relu3", ReLU6(), x)
x = b.add("gap", GlobalAvgPool(), x)
x = b.add("flatten", Flatten(), x)
x = b.linear("fc", x, 16, 4)
let model = b.build(output: x)

func accuracy(_ m: Model, _ images: Tensor, _ labels: [Int]) -> Double {
  m.setPhase(.inference)
  let predicted = m.withoutGradients { m(images) }.argmax(axis: 1)
  return 100 * Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
}

// Float training: three epochs of SGD with a cosine schedule.
let epochs = 3
let trainer = Trainer(model: model, optimizer: SGD(model.parameters, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4),
                      schedule: CosineSchedule(base: 0.05, totalSteps: epochs * train.batchCount))
for epoch in 0..<epochs { _ = try trainer.trainEpoch(train, epoch: epoch) }
print(String(format: "float: %.2f %% on %d test images", accuracy(model, testX, testY), testY.count))

let out = NSTemporaryDirectory() + "train-quantize-export"
try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
try ONNXWriter.write(model, to: out + "/float.onnx")  // the float model for other tools

// QAT at W8A8 (power-of-two, the DPU's rules): calibrate, one epoch with folded Conv+BN, finish.
let session = try QATSession(model: model, config: QuantizationConfig())
try session.calibrate([Kernels.slice(trainX, [SliceRange(0, 256)])])
let qat = session.trainer(optimizer: SGD(session.model.parameters, learningRate: 0.005, momentum: 0.9),
                          schedule: CosineSchedule(base: 0.005, totalSteps: train.batchCount))
_ = try qat.trainEpoch(train, epoch: 0)
session.finish()
print(String(format: "QAT W8A8: %.2f %%", accuracy(session.model, testX, testY)))

// Export the deploy model and check the integer simulator tensor by tensor.
let report = try Exporter.export(session.quantized, to: out + "/deploy")
let simulator = try Simulator(directory: out + "/deploy")
let check = try BitExactCheck.compare(session.quantized, simulator, batch: testX)
print("exported \(report.nodes) nodes to \(out)/deploy; simulator: \(check.tensorsCompared) tensors compared, "
      + "\(check.mismatchedTensors.count) mismatched, max \(check.maxLSBDifference) LSB")
exit(check.mismatchedTensors.isEmpty && check.tensorsCompared > 0 ? 0 : 1)
