export {
  type BootstrapEvent,
  type BootstrapOptions,
  type BootstrapReport,
  buildOrder,
  type Comparison,
  compareStages,
  readStageReport,
  recordedBuildTimes,
  runBootstrap,
  type StageReport,
  stageRepository,
} from "./run.js";
export { loadStages, parseStages, type Stage, selectStages } from "./stages.js";
