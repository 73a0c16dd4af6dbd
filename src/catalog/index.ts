export { buildCatalog, type CatalogBuildOptions, type CatalogBuildReport, imageSearchEntries, type SearchEntry, searchEntries } from "./build.js";
export { readRebuildHistory } from "./history.js";
export { esc, h, Raw, slug } from "./html.js";
export { bytes, COMPARE_JS, compareData } from "./image-pages.js";
export { type CatalogImage, diffVersions, type ImageDiff, type ImageVersion, loadImage, parseImageSpec } from "./images.js";
export { type Catalog, type CatalogPackage, dependencyTarget, dependents, loadCatalog } from "./model.js";
export { SEARCH_JS, SEARCH_MATCH_JS } from "./search-script.js";
export { type RunningCatalog, serveCatalog } from "./serve.js";
export { readUpdates, type UpstreamState } from "./updates.js";
