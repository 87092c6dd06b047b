import CDNNL
import Synchronization

// Convolutions run on oneDNN's JIT kernels (the library PyTorch uses on CPU), with its preferred
// blocked memory layouts inside and plain NCHW / OIHW at the interface: every call reorders into
// the blocked layout, runs the primitive and reorders back. Primitives are created once per
// (direction, shapes, geometry, threads) and cached; the cache never changes results.

let dnnlArgSrc: Int32 = 1, dnnlArgDst: Int32 = 17, dnnlArgWeights: Int32 = 33, dnnlArgBias: Int32 = 41
let dnnlArgScratchpad: Int32 = 80
let dnnlArgDiffSrc: Int32 = 129, dnnlArgDiffDst: Int32 = 145, dnnlArgDiffWeights: Int32 = 161, dnnlArgDiffBias: Int32 = 169

@inline(__always) func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
  precondition(status == dnnl_success, "oneDNN \(what()) failed with status \(status.rawValue)")
}

/// The oneDNN CPU engine, created on first use.
final class DNNLEngine: @unchecked Sendable {
  static let shared = DNNLEngine()
  let engine: dnnl_engine_t

  private init() {
    var e: dnnl_engine_t?
    dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine creation")
    engine = e!
  }

  /// Runs primitives on a fresh stream (streams are cheap on CPU and not shared across threads).
  func run(_ body: (dnnl_stream_t) -> Void) {
    var s: dnnl_stream_t?
    dnnlCheck(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "stream creation")
    body(s!)
    dnnl_stream_wait(s!)
    dnnl_stream_destroy(s!)
  }
}

func plainDesc(_ dims: [Int], tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
  var md = dnnl_memory_desc_t()
  let d = dims.map(Int64.init)
  dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, dnnl_f32, tag), "memory descriptor \(dims)")
  return md
}

func anyDesc(_ dims: [Int]) -> dnnl_memory_desc_t { plainDesc(dims, tag: dnnl_format_tag_any) }

/// A reorder between a plain layout and a primitive's chosen layout (nil when they coincide).
final class DNNLReorder: @unchecked Sendable {
  let primitive: dnnl_primitive_t
  init?(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t) {
    var s = src, d = dst
    if dnnl_memory_desc_equal(&s, &d) != 0 { return nil }
    var pd: dnnl_primitive_desc_t?
    let e = DNNLEngine.shared.engine
    dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &s, e, &d, e, nil), "reorder descriptor")
    var p: dnnl_primitive_t?
    dnnlCheck(dnnl_primitive_create(&p, pd), "reorder primitive")
    dnnl_primitive_desc_destroy(pd)
    primitive = p!
  }
  deinit { dnnl_primitive_destroy(primitive) }
}

/// Memory objects wrapping our buffers for one execution.
struct DNNLMemory {
  let handle: dnnl_memory_t
  init(_ desc: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer) {
    var d = desc
    var m: dnnl_memory_t?
    dnnlCheck(dnnl_memory_create(&m, &d, DNNLEngine.shared.engine, pointer), "memory object")
    handle = m!
  }
  func destroy() { dnnl_memory_destroy(handle) }
}

/// Scratch buffer for a blocked-layout copy of a tensor.
struct DNNLBuffer {
  let pointer: UnsafeMutableRawPointer
  let bytes: Int
  init(bytes: Int) {
    self.bytes = bytes
    pointer = BufferPool.shared.allocate(bytes: bytes)
  }
  func free() { BufferPool.shared.release(pointer, bytes: bytes) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func descSize(_ md: dnnl_memory_desc_t) -> Int {
  var m = md
  return dnnl_memory_desc_get_size(&m)
}

/// Executes a reorder from `src` (layout `from`) to `dst` (layout `to`).
func runReorder(_ r: DNNLReorder, from: dnnl_memory_desc_t, _ src: UnsafeMutableRawPointer,
                to: dnnl_memory_desc_t, _ dst: UnsafeMutableRawPointer, _ stream: dnnl_stream_t) {
  let a = DNNLMemory(from, src), b = DNNLMemory(to, dst)
  var args = [dnnl_exec_arg_t(arg: dnnlArgSrc, memory: a.handle), dnnl_exec_arg_t(arg: dnnlArgDst, memory: b.handle)]
  dnnlCheck(dnnl_primitive_execute(r.primitive, stream, 2, &args), "reorder")
  a.destroy()
  b.destroy()
}

/// One operand of a primitive: its plain layout, the layout the primitive wants, and how to get
/// there. When the wanted layout is one a `Tensor` can hold (`layout` non-nil), tensors are passed
/// in that layout directly and results come back in it; otherwise oneDNN reorders to and from a
/// scratch buffer.
struct DNNLOperand {
  let plain: dnnl_memory_desc_t
  let chosen: dnnl_memory_desc_t
  let layout: TensorLayout?
  let reorderIn: DNNLReorder?   // plain -> chosen (inputs without a tensor layout)
  let reorderOut: DNNLReorder?  // chosen -> plain (outputs without a tensor layout)

  init(plain: dnnl_memory_desc_t, chosen: dnnl_memory_desc_t, dims: [Int], input: Bool, allowBlocked: Bool) {
    self.plain = plain
    self.chosen = chosen
    let layout = allowBlocked ? tensorLayout(of: chosen, dims: dims) : (descEqual(plain, chosen) ? .rowMajor : nil)
    self.layout = layout
    reorderIn = input && layout == nil ? DNNLReorder(from: plain, to: chosen) : nil
    reorderOut = !input && layout == nil ? DNNLReorder(from: chosen, to: plain) : nil
  }
  var chosenBytes: Int { descSize(chosen) }
}

func descEqual(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
  var x = a, y = b
  return dnnl_memory_desc_equal(&x, &y) != 0
}

/// The tensor layout equal to a chosen 4-D descriptor, if there is one.
func tensorLayout(of chosen: dnnl_memory_desc_t, dims: [Int]) -> TensorLayout? {
  guard dims.count == 4 else { return nil }
  if descEqual(chosen, plainDesc(dims, tag: dnnl_nchw)) { return .rowMajor }
  for (b, tag) in [(8, dnnl_nChw8c), (16, dnnl_nChw16c), (4, dnnl_nChw4c)] where dims[1] % b == 0 {
    if descEqual(chosen, plainDesc(dims, tag: tag)) { return .channelBlocked(b) }
  }
  return nil
}

/// Thread-safe cache of created primitives.
/// Plans by shape, at most `limit` of them: past that the cache starts again (plans are rebuilt on
/// demand; callers keep the ones they hold), so a process that meets many shapes (an import fuzz
/// run, varied input sizes) does not grow without bound.
final class DNNLCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  private let storage = Mutex<[Key: Value]>([:])
  let limit = 512
  func value(for key: Key, create: () -> Value) -> Value {
    if let v = storage.withLock({ $0[key] }) { return v }
    let v = create()
    return storage.withLock { dict in
      if let existing = dict[key] { return existing }
      if dict.count >= limit { dict.removeAll() }
      dict[key] = v
      return v
    }
  }
}
