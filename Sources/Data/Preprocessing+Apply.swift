import TensorCore

extension Preprocessing {
  /// The preprocessed tensor of `image` (shape `outputShape(...)`). Throws a `DataError` naming
  /// `source` when the image does not fit the options (channel count, crop larger than the image).
  ///
  /// Without a resize, each output channel maps the 256 possible bytes through a lookup table built
  /// with the exact per-pixel arithmetic, so this common path (for example `cifarResNet20`) costs one
  /// table read per value.
  public func apply(_ image: Image, source: String) throws -> Tensor {
    try apply(image, source: source, tables: nil)
  }

  /// `apply` with lookup tables computed beforehand by `lookupTables(channels:)` (nil: computed here).
  func apply(_ image: Image, source: String, tables precomputed: [Float]?) throws -> Tensor {
    let c = image.channels
    if let problem = mismatch(channels: c) { throw DataError(source: source, problem) }
    let (h, w) = (dims?[1] ?? image.height, dims?[2] ?? image.width)
    let (outH, outW) = outputSize(height: image.height, width: image.width)
    guard outH <= h, outW <= w else {
      throw DataError(source: source, "centerCrop \([outH, outW]) is larger than the image (\(h)x\(w))")
    }
    let layout = Layout(preprocessing: self, height: h, width: w, outHeight: outH, outWidth: outW, channels: c)
    if h == image.height && w == image.width {
      let tables = precomputed ?? lookupTables(channels: c)
      precondition(tables.count == 256 * c, "Preprocessing.apply: lookup tables for the wrong channel count")
      return image.pixels.withUnsafeBufferPointer { px in
        tables.withUnsafeBufferPointer { tab in
          layout.fill { k, offset in tab[256 * k + Int(px[offset])] }
        }
      }
    }
    let resized = Self.bilinear(image, height: h, width: w)
    return layout.fill { k, offset in value(resized[offset], channel: k) }
  }

  /// Where each output value comes from: crop offsets, channel swap and transposed strides.
  struct Layout {
    let shape: Shape
    let channels, width, outHeight, outWidth, top, left: Int
    let strideY, strideX, strideC: Int
    let swap: [Int]

    init(preprocessing p: Preprocessing, height: Int, width: Int, outHeight: Int, outWidth: Int, channels: Int) {
      shape = Shape(p.transpose.map { [outHeight, outWidth, channels][$0] })
      (self.channels, self.width, self.outHeight, self.outWidth) = (channels, width, outHeight, outWidth)
      top = Int((Double(height - outHeight) / 2).rounded(.toNearestOrEven))  // torchvision CenterCrop
      left = Int((Double(width - outWidth) / 2).rounded(.toNearestOrEven))
      var axisStride = [0, 0, 0]  // output strides of the H, W and C axes after the transpose
      for (position, axis) in p.transpose.enumerated() { axisStride[axis] = shape.strides[position] }
      (strideY, strideX, strideC) = (axisStride[0], axisStride[1], axisStride[2])
      swap = p.channelSwap ?? Array(0..<channels)
    }

    /// The output tensor, element (y, x, output channel k) = value(k, HWC offset of its source sample).
    func fill(_ value: (Int, Int) -> Float) -> Tensor {
      Tensor(shape: shape) { out in
        guard let dst = out.baseAddress else { return }
        for k in 0..<channels {
          let from = swap[k]
          for y in 0..<outHeight {
            let row = ((y + top) * width + left) * channels + from
            let base = dst + (y * strideY + k * strideC)
            for x in 0..<outWidth { base[x * strideX] = value(k, row + x * channels) }
          }
        }
      }
    }
  }

  /// Why an image with `c` channels does not fit these options, or nil when it does.
  func mismatch(channels c: Int) -> String? {
    if let dims, dims[0] != c {
      return "image has \(c) channel(s) but dims \(dims) expects \(dims[0]) (decode with channels: .rgb for RGB models)"
    }
    if let channelSwap, channelSwap.count != c {
      return "channelSwap \(channelSwap) does not fit an image with \(c) channel(s)"
    }
    for (name, values) in [("meanValue", meanValue), ("std", std)] {
      if let values, values.count != 1 && values.count != c {
        return "\(name) has \(values.count) values for an image with \(c) channel(s)"
      }
    }
    return nil
  }

  /// For each channel k, the 256 values `value(Float(u) / 255, channel: k)`, flattened.
  func lookupTables(channels c: Int) -> [Float] {
    var tables = [Float](repeating: 0, count: 256 * c)
    tables.withUnsafeMutableBufferPointer { t in
      for k in 0..<c {
        for u in 0..<256 { t[256 * k + u] = value(Float(u) / 255, channel: k) }
      }
    }
    return tables
  }

  /// Steps 6–9 for one value of output channel k: ((x·rawScale − mean) / std) · inputScale, each
  /// step only when its option is set.
  @inline(__always)
  func value(_ x: Float, channel k: Int) -> Float {
    var v = x
    if let rawScale { v *= rawScale }
    if let meanValue { v -= meanValue.count == 1 ? meanValue[0] : meanValue[k] }
    if let std { v /= std.count == 1 ? std[0] : std[k] }
    if let inputScale { v *= inputScale }
    return v
  }

  /// Bilinear resize of `Float(u)/255` values (HWC) with half-pixel centres and clamped edges.
  static func bilinear(_ image: Image, height: Int, width: Int) -> [Float] {
    let c = image.channels
    func taps(_ outSize: Int, _ inSize: Int) -> [(Int, Int, Float)] {
      let scale = Float(inSize) / Float(outSize)
      return (0..<outSize).map { o in
        let s = max(0, (Float(o) + 0.5) * scale - 0.5)
        let i0 = min(Int(s), inSize - 1)
        return (i0, min(i0 + 1, inSize - 1), s - Float(i0))
      }
    }
    let rows = taps(height, image.height), cols = taps(width, image.width)
    let src = image.pixels.map { Float($0) / 255 }
    var out = [Float](repeating: 0, count: height * width * c)
    for (y, (y0, y1, fy)) in rows.enumerated() {
      for (x, (x0, x1, fx)) in cols.enumerated() {
        for ch in 0..<c {
          let a = src[(y0 * image.width + x0) * c + ch], b = src[(y0 * image.width + x1) * c + ch]
          let d = src[(y1 * image.width + x0) * c + ch], e = src[(y1 * image.width + x1) * c + ch]
          let top = a + (b - a) * fx, bottom = d + (e - d) * fx
          out[(y * width + x) * c + ch] = top + (bottom - top) * fy
        }
      }
    }
    return out
  }
}
