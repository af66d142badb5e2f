export { allReduceByteFactor, allReduceTime, oneShotMaxBytes, selectAllReduce } from './allreduce.js';
export type { AllReduceAlgorithm, AllReduceCosts } from './allreduce.js';
export { DGX_A100, HARDWARE_PRESETS, HGX_H100, HGX_H200, parseHardware, resolveHardware } from './hardware.js';
export type { ComputePrecision, Hardware } from './hardware.js';
export { MODEL_PRESETS, geometricAcceptance, headDim, layerParams, parseHfConfig, resolveModel } from './models.js';
export type { ModelShape } from './models.js';
export { ACTIVATION_BYTES, KV_PRECISIONS, PRECISION_BYTES, WEIGHT_PRECISIONS, computePrecision, simulateStep } from './step.js';
export type { KvPrecision, Overheads, StepInput, StepResult, StepTerms, WeightPrecision } from './step.js';
export { FITTED_OVERHEADS, GPT_FAST_POINTS, fitOverheads } from './fitted.js';
export { DEFAULT_MEDUSA_CHOICES, checkAcceptance, simulate, tokensPerStep } from './simulate.js';
export type { SimulateOptions, Simulation, SimulatedStep } from './simulate.js';
export {
  HOST_CALIBRATION_KIND, coreShare, defaultCalibrationPath, isHostCalibration, measuredRuns, parseHostCalibration, predictHostStep, readHostCalibration,
} from './host.js';
export type { ComputePoint, HostCalibration, HostPrediction, HostTerms, MeasuredRun, SegmentPoint } from './host.js';
