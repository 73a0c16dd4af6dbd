/** The apk architecture name of the machine undistro runs on (the one place this is decided). */
export function hostArch(): string {
  return process.arch === "arm64" ? "aarch64" : "x86_64";
}
