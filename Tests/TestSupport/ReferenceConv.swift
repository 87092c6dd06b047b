import TensorCore

/// Direct double-precision gradients of conv2d: (dx, dw, db) for output cotangent gy.
public func referenceConv2dBackward(_ gy: Tensor, _ x: Tensor, _ w: Tensor, _ g: ConvGeometry) -> (Tensor, Tensor, Tensor) {
  let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (o, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  let (oh, ow) = (gy.shape[2], gy.shape[3])
  let xs = x.scalars, ws = w.scalars, gs = gy.scalars
  var dx = [Double](repeating: 0, count: x.count)
  var dw = [Double](repeating: 0, count: w.count)
  var db = [Double](repeating: 0, count: o)
  let opg = o / g.groups
  for ni in 0..<n {
    for oc in 0..<o {
      let grp = oc / opg
      for y in 0..<oh {
        for xo in 0..<ow {
          let gv = Double(gs[((ni * o + oc) * oh + y) * ow + xo])
          db[oc] += gv
          for icl in 0..<ci {
            let ic = grp * ci + icl
            for ky in 0..<kh {
              let iy = y * g.strideH - g.padTop + ky * g.dilationH
              if iy < 0 || iy >= h { continue }
              for kx in 0..<kw {
                let ix = xo * g.strideW - g.padLeft + kx * g.dilationW
                if ix < 0 || ix >= wd { continue }
                let xi = ((ni * c + ic) * h + iy) * wd + ix
                let wi = ((oc * ci + icl) * kh + ky) * kw + kx
                dx[xi] += gv * Double(ws[wi])
                dw[wi] += gv * Double(xs[xi])
              }
            }
          }
        }
      }
    }
  }
  return (Tensor(dx.map(Float.init), shape: x.shape), Tensor(dw.map(Float.init), shape: w.shape), Tensor(db.map(Float.init)))
}
