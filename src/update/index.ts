export { type BumpResult, bumpEpoch, bumpRecipe } from "./bump.js";
export { candidateVersions, checkRecipe, checkUpdates, listingNames, type ProviderKind, sourceStep, type UpdateCheck } from "./check.js";
export { DEFAULT_SUITES, type DebianSourceVersion, debianVersions, sourcesEntries, upstreamOf } from "./debian.js";
