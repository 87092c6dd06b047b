import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum CKernelsThreads {
  static func set(_ n: Int) { ck_set_num_threads(Int32(n)) }
  static func get() -> Int { Int(ck_get_num_threads()) }
  static func cores() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
