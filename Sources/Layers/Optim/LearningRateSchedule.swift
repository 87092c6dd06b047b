#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Learning rate as a function of the optimizer step (0-based). Epoch-based schedules are given
/// in steps: multiply epochs by steps per epoch.
public protocol LearningRateSchedule: Sendable {
  func learningRate(at step: Int) -> Float
}

public struct ConstantSchedule: LearningRateSchedule {
  public var base: Float
  public init(_ base: Float) { self.base = base }
  public func learningRate(at step: Int) -> Float { base }
}

/// base · gamma^(step / stepSize).
public struct StepSchedule: LearningRateSchedule {
  public var base: Float, stepSize: Int, gamma: Float
  public init(base: Float, stepSize: Int, gamma: Float = 0.1) {
    precondition(stepSize > 0, "StepSchedule: stepSize must be positive")
    self.base = base
    self.stepSize = stepSize
    self.gamma = gamma
  }
  public func learningRate(at step: Int) -> Float { base * Float(Glibc.pow(Double(gamma), Double(step / stepSize))) }
}

/// base · gamma^(number of milestones passed).
public struct MultiStepSchedule: LearningRateSchedule {
  public var base: Float, milestones: [Int], gamma: Float
  public init(base: Float, milestones: [Int], gamma: Float = 0.1) {
    self.base = base
    self.milestones = milestones.sorted()
    self.gamma = gamma
  }
  public func learningRate(at step: Int) -> Float {
    base * Float(Glibc.pow(Double(gamma), Double(milestones.filter { step >= $0 }.count)))
  }
}

/// Cosine annealing from base to minimum over totalSteps (then stays at minimum).
public struct CosineSchedule: LearningRateSchedule {
  public var base: Float, totalSteps: Int, minimum: Float
  public init(base: Float, totalSteps: Int, minimum: Float = 0) {
    precondition(totalSteps > 0, "CosineSchedule: totalSteps must be positive")
    self.base = base
    self.totalSteps = totalSteps
    self.minimum = minimum
  }
  public func learningRate(at step: Int) -> Float {
    let t = Double(min(step, totalSteps)) / Double(totalSteps)
    return minimum + (base - minimum) * Float((1 + Glibc.cos(Double.pi * t)) / 2)
  }
}

/// Linear warm-up from startFactor·(schedule at warmupSteps) to the wrapped schedule.
public struct WarmupSchedule<S: LearningRateSchedule>: LearningRateSchedule {
  public var schedule: S, warmupSteps: Int, startFactor: Float
  public init(_ schedule: S, warmupSteps: Int, startFactor: Float = 0.1) {
    self.schedule = schedule
    self.warmupSteps = warmupSteps
    self.startFactor = startFactor
  }
  public func learningRate(at step: Int) -> Float {
    guard step < warmupSteps else { return schedule.learningRate(at: step) }
    let f = startFactor + (1 - startFactor) * Float(step) / Float(warmupSteps)
    return f * schedule.learningRate(at: step)
  }
}
