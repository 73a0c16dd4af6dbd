/** The distribution spec's grammar for repository names and tags (one place for server and auth). */
export const NAME_RE = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** A repository name as the spec allows it: never a pattern, never `..`, at most 255 characters. */
export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && !name.includes("..") && NAME_RE.test(name);
}
