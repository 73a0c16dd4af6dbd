/**
 * Registry authentication and authorisation: users with scrypt-hashed passwords and
 * per-repository pull/push/delete grants from a config file; optional anonymous pull; the
 * bearer-token flow (401 + WWW-Authenticate → GET /token with Basic credentials → signed token)
 * that docker, skopeo and podman follow; Basic credentials accepted directly as well.
 */
import { createHmac, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { fsError, UndistroError } from "../util/index.js";
import { isRepositoryName } from "./names.js";

export type Action = "pull" | "push" | "delete";
export type AccessCheck = { kind: "base" } | { kind: "catalog" } | { kind: "repository"; name: string; actions: Action[] };

interface Grant {
  /** Repository name or glob with `*` (any characters except /) and `**` (anything). */
  repository: string;
  actions: Action[];
}

/** What a bearer token carries: exact repository names, never patterns (a name is not a glob). */
interface TokenAccess {
  name: string;
  actions: Action[];
}

type Principal = { user: string | null; grants: Grant[]; token?: TokenAccess[] };

interface UserEntry {
  password: string;
  access: Grant[];
}

export interface AuthConfig {
  /** What anyone may do without credentials: "none" (default when users exist) or "pull". */
  anonymous?: "none" | "pull";
  users?: Record<string, UserEntry>;
  /** Secret for signing tokens; random per start when absent (tokens then die with the server). */
  tokenSecret?: string;
  tokenTtlSeconds?: number;
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

/**
 * Checked in place of a real hash when the user is unknown, so that an unknown user costs the same
 * scrypt work as a wrong password and response times do not tell which names exist.
 */
const DUMMY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${Buffer.alloc(16).toString("base64")}$${Buffer.alloc(SCRYPT.keylen).toString("base64")}`;

/** `scrypt$N$r$p$salt$hash` (base64) — what the users' password fields hold. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64");
  const N = Number(n);
  if (!Number.isInteger(N) || N < 1024 || N > 1 << 20) return false;
  const got = scryptSync(password, Buffer.from(salt, "base64"), expected.length, { N, r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
      .replace(/\*\*/g, "\u0000")
      .replace(/\*/g, "[^/]*")
      .replace(/\u0000/g, ".*")}$`,
  );
  return re.test(name);
}

function b64url(buf: Buffer): string {
  return buf.toString("base64url");
}

export class RegistryAuth {
  /** Base URL of the registry, for the token realm (set when the server listens). */
  realmBase = "";
  private readonly secret: Buffer;
  private readonly open: boolean;

  constructor(private readonly config: AuthConfig | undefined) {
    this.open = config === undefined;
    this.secret = config?.tokenSecret ? Buffer.from(config.tokenSecret) : randomBytes(32);
  }

  static fromFile(path: string | undefined): RegistryAuth {
    if (path === undefined) return new RegistryAuth(undefined);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw fsError(err, "read registry config", path);
    }
    let cfg: AuthConfig;
    try {
      cfg = parseYaml(text) as AuthConfig;
    } catch (err) {
      throw new UndistroError("REGISTRY_CONFIG_INVALID", `${path}: ${(err as Error).message}`);
    }
    for (const [user, entry] of Object.entries(cfg.users ?? {})) {
      if (!entry?.password?.startsWith("scrypt$")) {
        throw new UndistroError("REGISTRY_CONFIG_INVALID", `${path}: users.${user}.password must be an scrypt hash`, {
          hint: "make one with `undistro registry hash-password`",
        });
      }
      for (const [i, g] of (entry.access ?? []).entries()) {
        if (!g.repository || !Array.isArray(g.actions) || g.actions.some((a) => !["pull", "push", "delete"].includes(a))) {
          throw new UndistroError("REGISTRY_CONFIG_INVALID", `${path}: users.${user}.access[${i}] needs repository and actions (pull, push, delete)`);
        }
      }
    }
    return new RegistryAuth(cfg);
  }

  /** Who is asking and what they may do, from the Authorization header. */
  private principal(header: string | undefined): Principal | "bad" {
    const anon: Grant[] = this.config?.anonymous === "pull" ? [{ repository: "**", actions: ["pull"] }] : [];
    if (!header) return { user: null, grants: anon };
    const [scheme, value] = header.split(" ", 2) as [string, string | undefined];
    if (!value) return "bad";
    if (scheme.toLowerCase() === "basic") {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const users = this.config?.users ?? {};
      const entry = Object.hasOwn(users, user) ? users[user] : undefined;
      // Always one scrypt, known user or not.
      const passwordOk = verifyPassword(colon < 0 ? "" : decoded.slice(colon + 1), entry?.password ?? DUMMY_HASH);
      if (colon < 0 || !entry || !passwordOk) return "bad";
      return { user, grants: [...entry.access, ...anon] };
    }
    if (scheme.toLowerCase() === "bearer") {
      const [body, sig] = value.split(".");
      if (!body || !sig) return "bad";
      const expected = b64url(createHmac("sha256", this.secret).update(body).digest());
      if (expected.length !== sig.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(sig))) return "bad";
      let claims: { sub: string | null; access: TokenAccess[]; exp: number };
      try {
        claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
      } catch {
        return "bad";
      }
      if (typeof claims.exp !== "number" || claims.exp < Date.now() / 1000 || !Array.isArray(claims.access)) return "bad";
      return { user: claims.sub, grants: [], token: claims.access };
    }
    return "bad";
  }

  check(header: string | undefined, check: AccessCheck): "ok" | "unauthenticated" | "denied" {
    if (this.open) return "ok";
    const p = this.principal(header);
    if (p === "bad") return "unauthenticated";
    // The /v2/ ping is where clients learn how to authenticate: with auth configured it always
    // challenges a request without credentials (anonymous clients then fetch an anonymous token).
    if (check.kind === "base") return header ? "ok" : "unauthenticated";
    if (check.kind === "catalog") return p.user !== null || this.config?.anonymous === "pull" ? "ok" : "unauthenticated";
    const allowed = check.actions.every((a) =>
      p.token
        ? p.token.some((t) => t.name === check.name && t.actions.includes(a))
        : p.grants.some((g) => g.actions.includes(a) && globMatch(g.repository, check.name)),
    );
    if (allowed) return "ok";
    // A bearer token without this scope earns a new challenge (the client then asks for a token
    // with it); known users with Basic credentials and no permission are refused outright.
    if (p.user === null || header?.toLowerCase().startsWith("bearer ")) return "unauthenticated";
    return "denied";
  }

  allows(header: string | undefined, repo: string, action: Action): boolean {
    return this.check(header, { kind: "repository", name: repo, actions: [action] }) === "ok";
  }

  visible(header: string | undefined, repo: string): boolean {
    return this.allows(header, repo, "pull");
  }

  challenge(check: AccessCheck): string {
    const scope =
      check.kind === "repository"
        ? `,scope="repository:${check.name}:${check.actions.join(",")}"`
        : check.kind === "catalog"
          ? ',scope="registry:catalog:*"'
          : "";
    return `Bearer realm="${this.realmBase}/token",service="undistro"${scope}`;
  }

  /** The token endpoint: grants the intersection of what was asked and what the user may do. */
  issueToken(
    header: string | undefined,
    scope: string,
    _service: string,
  ): { token: string; access_token: string; expires_in: number; issued_at: string } | null {
    const p: Principal | "bad" = this.open ? { user: null, grants: [{ repository: "**", actions: ["pull", "push", "delete"] }] } : this.principal(header);
    if (p === "bad") return null;
    // A token is bought with a password (or nothing, for anonymous pull), never with another token.
    if (p.token) return null;
    if (header && p.user === null && !this.open) return null;
    const access: TokenAccess[] = [];
    for (const s of scope.split(" ").filter(Boolean)) {
      const m = /^repository:([^:]+):(.*)$/.exec(s);
      if (!m) continue;
      const name = m[1] as string;
      // The requested name is matched against the user's patterns; it is never a pattern itself.
      if (!isRepositoryName(name)) continue;
      const wanted = (m[2] as string).split(",").filter((a): a is Action => a === "pull" || a === "push" || a === "delete" || a === "*");
      const acts = (wanted.includes("*" as Action) ? (["pull", "push", "delete"] as Action[]) : wanted).filter((a) =>
        p.grants.some((g) => g.actions.includes(a) && globMatch(g.repository, name)),
      );
      if (acts.length) access.push({ name, actions: acts });
    }
    const ttl = this.config?.tokenTtlSeconds ?? 300;
    const now = Math.floor(Date.now() / 1000);
    const body = b64url(Buffer.from(JSON.stringify({ sub: p.user, access, exp: now + ttl })));
    const token = `${body}.${b64url(createHmac("sha256", this.secret).update(body).digest())}`;
    return { token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() };
  }
}
