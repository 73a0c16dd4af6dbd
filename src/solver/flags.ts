/** Solver flags, as apk's APK_SOLVERF_* (per package, some inherited down the dependency tree). */
export const SOLVERF_UPGRADE = 0x0001;
export const SOLVERF_AVAILABLE = 0x0002;
export const SOLVERF_REINSTALL = 0x0004;
export const SOLVERF_LATEST = 0x0008;
export const SOLVERF_IGNORE_CONFLICT = 0x0010;
/** Prefer what is installed (apk's --ignore on upgrade). */
export const SOLVERF_INSTALLED = 0x0020;
export const SOLVERF_REMOVE = 0x0040;
