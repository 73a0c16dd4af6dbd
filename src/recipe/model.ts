/** The melange recipe model, as undistro reads it (YAML field names in comments where they differ). */

export interface Copyright {
  license: string;
  paths?: string[];
  attestation?: string;
}

export interface PackageDependencies {
  runtime: string[];
  provides: string[];
  replaces: string[];
  /** provider-priority */
  providerPriority?: number;
  /** replaces-priority */
  replacesPriority?: number;
}

export interface PipelineStep {
  name?: string;
  uses?: string;
  with?: Record<string, string>;
  runs?: string;
  if?: string;
  /** working-directory */
  workingDirectory?: string;
  environment?: Record<string, string>;
  pipeline?: PipelineStep[];
  /** YAML path of the step, for messages ("pipeline[2]"). */
  where: string;
}

export interface PackageSection {
  name: string;
  version: string;
  epoch: number;
  description?: string;
  url?: string;
  commit?: string;
  copyright: Copyright[];
  dependencies: PackageDependencies;
  options?: { noProvides?: boolean; noDepends?: boolean; noCommands?: boolean };
  scriptlets?: Record<string, string>;
  /** target-architecture: empty or ["all"] means every architecture. */
  targetArchitecture: string[];
}

export interface Subpackage {
  name: string;
  description?: string;
  url?: string;
  commit?: string;
  copyright?: Copyright[];
  dependencies: PackageDependencies;
  options?: PackageSection["options"];
  scriptlets?: Record<string, string>;
  pipeline: PipelineStep[];
  /** Values of ${{range.key}} / ${{range.value}} when expanded from a `range`. */
  range?: { key: string; value: string };
  where: string;
}

export interface VarTransform {
  from: string;
  match: string;
  replace: string;
  to: string;
}

export interface Recipe {
  file: string;
  package: PackageSection;
  environment: {
    contents: { repositories: string[]; keyring: string[]; packages: string[] };
    environment: Record<string, string>;
  };
  pipeline: PipelineStep[];
  subpackages: Subpackage[];
  vars: Record<string, string>;
  varTransforms: VarTransform[];
  data: Array<{ name: string; items: Record<string, string> }>;
  test?: { environment?: Recipe["environment"]; pipeline: PipelineStep[] };
  update?: Record<string, unknown>;
  /** Problems that do not stop the recipe from loading (e.g. a version no APK can carry). */
  warnings: Array<{ path: string; line?: number; message: string }>;
  /** The validated document as parsed, for fields undistro does not model yet. */
  raw: Record<string, unknown>;
}

/** A pipeline definition (a file under pipelines/ or --pipeline-dir), melange's format. */
export interface PipelineDefinition {
  /** Name as used in `uses:`, e.g. "autoconf/configure". */
  name: string;
  file: string;
  inputs: Record<string, { description?: string; default?: string; required?: boolean }>;
  needs: string[];
  pipeline: PipelineStep[];
}
