export { checkInstallable, type Uninstallable } from "./installable.js";
export {
  type BootstrapEvent,
  type BootstrapOptions,
  type BootstrapReport,
  buildOrder,
  type Comparison,
  compareStages,
  planBootstrap,
  readStageReport,
  recordedBuildTimes,
  runBootstrap,
  type StagePlan,
  type StageReport,
  stageRepository,
} from "./run.js";
export { loadStages, parseStages, type Stage, selectStages } from "./stages.js";
