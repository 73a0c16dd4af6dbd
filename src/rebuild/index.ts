export {
  type AffectedImage,
  type ChangedRecipe,
  type DependentRecipe,
  formatRebuildPlan,
  planRebuild,
  type RebuildInputs,
  type RebuildPlan,
} from "./plan.js";
export { type RebuildOptions, type RebuildResult, type RebuiltImage, runRebuild } from "./run.js";
