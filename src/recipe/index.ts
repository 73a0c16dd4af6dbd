export { findRecipes, type LintReport, type LintResult, lintRecipes } from "./lint.js";
export { goRegexToJs, loadRecipe, parsePipelineDefinition, parseRecipe, RecipeInvalidError, type RecipeProblem } from "./load.js";
export type { Copyright, PackageDependencies, PackageSection, PipelineDefinition, PipelineStep, Recipe, Subpackage, VarTransform } from "./model.js";
export { formatPath, parseYamlFile, type YamlFile } from "./yaml.js";
