export {
  BUILDER_VERSION,
  type BuildEvent,
  type BuildOptions,
  type BuildReport,
  type BuildTool,
  type BuiltPackage,
  buildRecipe,
  environmentKey,
  hostArch,
  hostToolchain,
} from "./build.js";
export { type ElfInfo, isElf, readElf } from "./elf.js";
export { environmentEntry, environmentRepositories, parseEnvironmentEntry } from "./environment.js";
export {
  type BuildPlan,
  BuildState,
  buildGraph,
  formatPlanDot,
  formatPlanText,
  type GraphBuildOptions,
  type GraphBuildResult,
  type GraphNode,
  planGraph,
  recipePipelinesDigest,
} from "./graph.js";
export { BUILTIN_PIPELINE_DIR, NATIVE_PIPELINES, PipelineRegistry, type PlannedStep, planSteps } from "./pipelines.js";
export {
  BUILD_RECORD_FILE,
  BUILD_RECORD_TYPE,
  type BuildRecord,
  formatBuildRecord,
  lockedEnvironment,
  lockedSysroot,
  parseBuildRecord,
  RECIPE_RECORD_FILE,
  type RecordedPackage,
  type RecordedStep,
  recipeDigest,
} from "./record.js";
export { parseResumeState } from "./resume.js";
export { BASE_PATH, checkSandbox, clockCanVary, runInSandbox, type SandboxResult, type SandboxRun, type SandboxVariation, sandboxArgs } from "./sandbox.js";
export { analyzePackage, type ScaFile, type ScaResult, walkPackageDir } from "./sca.js";
export { addToMirror, defaultCacheDir, downloadSource, type FetchedSource, fetchSource, type SourceRequest } from "./sources.js";
export { type ArchInfo, archInfo, evaluateCondition, OUTDIR, recipeVars, substitute, WORKSPACE } from "./substitute.js";
