export { type AppletOptions, applyAdd, applyDel, applyFix, applyUpgrade, type TransactionReport, worldString } from "./applets.js";
export { parseSolverTest, runSolverTest, runSolverTestFile, type SolverTestCase, type SolverTestResult, shellWords, TEST_CLOCK } from "./conformance.js";
export { depIsProvided, depString, versionMatch } from "./dep-match.js";
export { type Explanation, explainFailure, type Problem } from "./explain.js";
export * from "./flags.js";
export { type Dep, type InstalledInfo, Name, PackageDb, Pkg, type Provider, type Repository } from "./model.js";
export {
  cachedIndexPath,
  type FetchReport,
  fetchPackages,
  fetchRepositoryIndexes,
  isRemoteRepository,
  localPackagePath,
  remoteRepositoryDir,
} from "./remote.js";
export {
  absoluteUrl,
  assertLockHolds,
  buildDatabase,
  checkLock,
  checkLockedPackage,
  explain,
  formatLock,
  indexPathFor,
  LOCK_VERSION,
  type LoadedRepository,
  type LockFile,
  loadRepository,
  lockFromResolution,
  openRepositories,
  parseLock,
  type RepositorySet,
  type RepositorySpec,
  type Resolution,
  type ResolvedPackage,
  resolveIn,
  resolveWorld,
  UnsatisfiableError,
} from "./resolve.js";
export { type Change, type Changeset, type SolveOptions, type SolveResult, Solver } from "./solve.js";
