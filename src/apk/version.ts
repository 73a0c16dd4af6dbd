/**
 * APK version ordering, as apk-tools 2.14 orders versions:
 *   number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}
 * The comparison walks both strings token by token. Invalid versions still compare (apk does the
 * same), which is what `../shared/reference/apk-tools/version.data` exercises.
 */

// Token kinds, in the order that makes the grammar: a token may only be followed by a token of a
// kind allowed after it, and the final tie-break compares these ranks.
enum Tok {
  InitialDigit = 0,
  Digit = 1,
  Letter = 2,
  Suffix = 3,
  SuffixNo = 4,
  CommitHash = 5,
  RevisionNo = 6,
  End = 7,
  Invalid = 8,
}

// Suffix ranks: pre-release suffixes sort below "no suffix" (5), post-release ones above.
const SUFFIX_RANK: Record<string, number> = { alpha: 1, beta: 2, pre: 3, rc: 4, cvs: 6, svn: 7, git: 8, hg: 9, p: 10 };
const SUFFIX_NONE = 5;

interface Cursor {
  s: string;
  pos: number;
  tok: Tok;
  /** The token's text (digits, letter, suffix word or hash). */
  text: string;
  suffix: number;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function readDigits(c: Cursor): void {
  const start = c.pos;
  while (isDigit(c.s[c.pos])) c.pos++;
  c.text = c.s.slice(start, c.pos);
  if (c.text.length === 0) c.tok = Tok.Invalid;
}

function first(s: string): Cursor {
  const c: Cursor = { s, pos: 0, tok: Tok.InitialDigit, text: "", suffix: 0 };
  readDigits(c);
  return c;
}

function advance(c: Cursor): void {
  if (c.pos >= c.s.length) {
    c.tok = Tok.End;
    return;
  }
  const ch = c.s[c.pos] as string;
  if (ch >= "a" && ch <= "z") {
    if (c.tok > Tok.Digit) {
      invalid(c);
      return;
    }
    c.text = ch;
    c.tok = Tok.Letter;
    c.pos++;
    return;
  }
  if (ch === "." || isDigit(ch)) {
    if (ch === ".") {
      if (c.tok > Tok.Digit) {
        invalid(c);
        return;
      }
      c.pos++;
    }
    if (c.tok === Tok.InitialDigit || c.tok === Tok.Digit) c.tok = Tok.Digit;
    else if (c.tok === Tok.Suffix) c.tok = Tok.SuffixNo;
    else {
      invalid(c);
      return;
    }
    readDigits(c);
    return;
  }
  if (ch === "_") {
    if (c.tok > Tok.SuffixNo) {
      invalid(c);
      return;
    }
    c.pos++;
    const start = c.pos;
    while (c.pos < c.s.length && (c.s[c.pos] as string) >= "a" && (c.s[c.pos] as string) <= "z") c.pos++;
    c.text = c.s.slice(start, c.pos);
    const rank = SUFFIX_RANK[c.text];
    if (rank === undefined) {
      invalid(c);
      return;
    }
    c.suffix = rank;
    c.tok = Tok.Suffix;
    return;
  }
  if (ch === "~") {
    if (c.tok >= Tok.CommitHash) {
      invalid(c);
      return;
    }
    c.pos++;
    const start = c.pos;
    while (c.pos < c.s.length && /[0-9a-f]/.test(c.s[c.pos] as string)) c.pos++;
    c.text = c.s.slice(start, c.pos);
    if (c.text.length === 0) {
      invalid(c);
      return;
    }
    c.tok = Tok.CommitHash;
    return;
  }
  if (ch === "-") {
    if (c.tok >= Tok.RevisionNo) {
      invalid(c);
      return;
    }
    if (c.s[c.pos + 1] !== "r") {
      invalid(c);
      return;
    }
    c.pos += 2;
    c.tok = Tok.RevisionNo;
    readDigits(c);
    return;
  }
  invalid(c);
}

function invalid(c: Cursor): void {
  c.tok = Tok.Invalid;
}

/** Byte-wise comparison, shorter first on a common prefix (apk's blob sort). */
function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Compares unsigned decimal strings by value, without the 2^53 limit of numbers. */
function compareNumeric(a: string, b: string): number {
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareTokens(a: Cursor, b: Cursor): number {
  switch (a.tok) {
    case Tok.Digit:
      // A leading zero in a non-initial component switches to string order (as in Gentoo).
      if (a.text.startsWith("0") || b.text.startsWith("0")) return compareStrings(a.text, b.text);
      return compareNumeric(a.text, b.text);
    case Tok.InitialDigit:
    case Tok.SuffixNo:
    case Tok.RevisionNo:
      return compareNumeric(a.text, b.text);
    case Tok.Letter:
      return compareStrings(a.text, b.text);
    case Tok.Suffix:
      return Math.sign(a.suffix - b.suffix);
    default:
      return compareStrings(a.text, b.text);
  }
}

function compare(a: string, b: string, fuzzy: boolean): -1 | 0 | 1 {
  const ta = first(a);
  const tb = first(b);
  while (ta.tok === tb.tok && ta.tok < Tok.End) {
    const r = compareTokens(ta, tb);
    if (r !== 0) return r < 0 ? -1 : 1;
    advance(ta);
    advance(tb);
  }
  if (ta.tok === tb.tok) return 0;
  // Fuzzy (`~`): equal so far is equal, whichever side has more to come (apk: `1` ~ `1.0` holds).
  if (fuzzy) return 0;
  if (ta.tok === Tok.Suffix && ta.suffix < SUFFIX_NONE) return -1;
  if (tb.tok === Tok.Suffix && tb.suffix < SUFFIX_NONE) return 1;
  if (ta.tok > tb.tok) return -1;
  if (tb.tok > ta.tok) return 1;
  return 0;
}

/** Orders two APK versions: negative, zero or positive, as apk-tools does. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  return compare(a, b, false);
}

/** Fuzzy comparison for `~`: equal when the components both have are equal (either may have more). */
export function compareVersionsFuzzy(a: string, b: string): -1 | 0 | 1 {
  return compare(a, b, true);
}

/** Whether `v` is a well-formed APK version. */
export function isValidVersion(v: string): boolean {
  const c = first(v);
  while (c.tok < Tok.End) advance(c);
  return c.tok === Tok.End;
}
