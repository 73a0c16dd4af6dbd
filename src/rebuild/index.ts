export {
  type AffectedImage,
  type ChangedRecipe,
  type DependentRecipe,
  formatRebuildPlan,
  planRebuild,
  type RebuildInputs,
  type RebuildPlan,
} from "./plan.js";
export {
  historyEntry,
  REBUILD_HISTORY_FILE,
  type RebuildHistoryEntry,
  type RebuildOptions,
  type RebuildResult,
  type RebuiltImage,
  runRebuild,
} from "./run.js";
