/// The operators the importer reads, by ONNX op type (the file's vocabulary), each with its
/// handler. Shape-computation ops (Shape, Gather, Cast, Equal, Where, Range, ...) work on values
/// known at import.
extension Importer {
  typealias Handler = (Importer) -> (NodeContext) throws -> [ImportValue]

  nonisolated(unsafe) static let handlers: [String: Handler] = [
    "Conv": Importer.conv, "ConvTranspose": Importer.convTranspose, "BatchNormalization": Importer.batchNormalization,
    "Relu": Importer.relu, "Clip": Importer.clip, "LeakyRelu": Importer.leakyRelu, "PRelu": Importer.prelu,
    "Sigmoid": Importer.sigmoid, "HardSigmoid": Importer.hardSigmoid, "HardSwish": Importer.hardSwish, "Tanh": Importer.tanh,
    "Softmax": Importer.softmax,
    "Add": Importer.add, "Sub": Importer.sub, "Mul": Importer.mul, "Div": Importer.div,
    "Concat": Importer.concat, "MaxPool": Importer.maxPool, "AveragePool": Importer.averagePool,
    "GlobalAveragePool": Importer.globalAveragePool, "GlobalMaxPool": Importer.globalMaxPool, "ReduceMean": Importer.reduceMean,
    "Gemm": Importer.gemm, "MatMul": Importer.matMul,
    "Flatten": Importer.flatten, "Reshape": Importer.reshape, "Transpose": Importer.transpose,
    "Squeeze": Importer.squeeze, "Unsqueeze": Importer.unsqueeze,
    "Pad": Importer.pad, "Slice": Importer.slice, "Split": Importer.split,
    "Resize": Importer.resize, "Upsample": Importer.resize,
    "Identity": Importer.identity, "Dropout": Importer.identity,
    "Constant": Importer.constantOp, "ConstantOfShape": Importer.constantOfShape, "Shape": Importer.shapeOp,
    "Gather": Importer.gather, "Cast": Importer.cast,
    "Equal": Importer.constantArithmetic, "Greater": Importer.constantArithmetic, "Less": Importer.constantArithmetic,
    "Where": Importer.constantArithmetic, "Range": Importer.constantArithmetic, "Min": Importer.constantArithmetic,
    "Max": Importer.constantArithmetic, "Neg": Importer.constantArithmetic, "Abs": Importer.constantArithmetic,
    "Floor": Importer.constantArithmetic, "Ceil": Importer.constantArithmetic, "Sqrt": Importer.constantArithmetic,
  ]
}
