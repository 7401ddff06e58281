// Differential test: our PEP 440 code against pypa/packaging, the reference implementation pip uses.
// One python3 process reads the whole corpus as JSON on stdin and answers on stdout: validity and
// normalized form of every version, the order of the valid ones, validity of every specifier set
// and, for each, membership of a sample of versions with pre-releases admitted and decided as our
// default does (see DELIBERATE for why packaging's prereleases=False is not compared). Skipped (with the reason) where python3 cannot import packaging,
// neither as `packaging` nor as pip's vendored `pip._vendor.packaging`.
// https://packaging.python.org/en/latest/specifications/version-specifiers/
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../test/helpers/repo-root.js";
import { matchesSpecifierSet, parseSpecifierSet, type SpecifierSet } from "./pep440-specifier.js";
import {
  compareVersions,
  formatVersion,
  isPrerelease,
  parseVersion,
  type Version,
} from "./pep440-version.js";

const PYTHON = `
import json, sys
try:
    from packaging.version import Version, InvalidVersion
    from packaging.specifiers import SpecifierSet, InvalidSpecifier
    import packaging as p
except ImportError:
    from pip._vendor.packaging.version import Version, InvalidVersion
    from pip._vendor.packaging.specifiers import SpecifierSet, InvalidSpecifier
    import pip._vendor.packaging as p
data = json.load(sys.stdin)
versions, parsed = [], []
for s in data["versions"]:
    try:
        v = Version(s)
        versions.append({"valid": True, "norm": str(v), "pre": v.is_prerelease})
        parsed.append(v)
    except InvalidVersion:
        versions.append({"valid": False})
        parsed.append(None)
valid = sorted((i for i, v in enumerate(parsed) if v is not None), key=lambda i: parsed[i])
ranks, rank = {}, -1
for n, i in enumerate(valid):
    if n == 0 or parsed[i] != parsed[valid[n - 1]]:
        rank += 1
    ranks[i] = rank
def member(ss, s, pre):
    try:
        return "1" if ss.contains(s, prereleases=pre) else "0"
    except Exception:
        return "e"
specs = []
for s in data["specs"]:
    try:
        ss = SpecifierSet(s)
    except InvalidSpecifier:
        specs.append({"valid": False})
        continue
    named = bool(ss.prereleases)
    specs.append({
        "valid": True,
        "loose": "".join(member(ss, data["versions"][i], True) for i in data["candidates"]),
        "default": "".join(member(ss, data["versions"][i], named) for i in data["candidates"]),
    })
json.dump({"packaging": p.__version__, "versions": versions, "ranks": ranks, "specs": specs}, sys.stdout)
`;

interface PythonAnswer {
  packaging: string;
  versions: Array<{ valid: boolean; norm?: string; pre?: boolean }>;
  ranks: Record<string, number>;
  specs: Array<{ valid: boolean; loose?: string; default?: string }>;
}

/** Versions of the wheels and sdists named anywhere in the real-world fixtures. */
function realWorldVersions(): string[] {
  const found = new Set<string>();
  const name =
    /[A-Za-z0-9_.]+-([0-9][A-Za-z0-9.!+_%]*?)(?:-[A-Za-z0-9_.]+){2,3}\.whl|[A-Za-z0-9_]+-([0-9][A-Za-z0-9.!+_%-]*?)\.(?:tar\.gz|zip)\b/g;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(html|json|csv|lock|toml|nix|md|txt)$/.test(entry)) {
        for (const m of readFileSync(path, "utf8").matchAll(name)) {
          const raw = m[1] ?? m[2];
          if (raw !== undefined) found.add(raw.replaceAll("%2B", "+").replaceAll("%2b", "+"));
        }
      }
    }
  };
  walk(join(repoRoot(), "test/fixtures/real-world"));
  return [...found].sort();
}

/** A deterministic pseudo-random sequence (so a failure reproduces). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Spellings the spec accepts and rejects: epochs, pre/post/dev, local labels, leading zeros, `v`. */
function syntheticVersions(): string[] {
  const random = lcg(440);
  const prefixes = ["", "", "v", "V", " ", "1!", "0!", "2!"];
  const releases = ["1", "1.0", "1.0.0", "01.02", "1.0.0.0", "0", "2.10", "2.6", "00", "2.5.1", "0.0.1"];
  const pres = [
    "",
    "",
    "",
    "a1",
    "alpha",
    "b2",
    ".beta.3",
    "-rc1",
    "c",
    "pre4",
    "preview",
    "RC",
    "_a_0",
    "a01",
  ];
  const posts = ["", "", "", ".post1", "-1", "post", "_r2", "rev3", ".POST-4", "-post.5"];
  const devs = ["", "", "", ".dev0", "dev", "-dev5", "_DEV.06"];
  const locals = ["", "", "", "+cu121", "+ubuntu-01", "+abc.1.DEF", "+1.2_x", "+0", "+cpu"];
  const suffixes = ["", "", "", "", "", " ", "\n", ".", "-", "+", "x", ".*"];
  const out = new Set<string>();
  while (out.size < 1500) {
    out.add(
      pick(prefixes, random) +
        pick(releases, random) +
        pick(pres, random) +
        pick(posts, random) +
        pick(devs, random) +
        pick(locals, random) +
        pick(suffixes, random),
    );
  }
  for (const odd of [
    "",
    " ",
    "1.",
    ".1",
    "1..0",
    "1.0+",
    "1.0+-x",
    "1.0a1a2",
    "abc",
    "1.0-",
    "1!",
    "1!2!3",
    "1.0 2",
    "1.0+loc al",
    "\t1.0\n",
    "1e3",
    "\u0661.\u0660",
    "1.0.post1.dev2+local.7",
    "2.0.0.0.0.0.1",
    "1.0-r",
    "1.0-1-1",
    "1.0.dev1.post1",
    "v",
    "1.0+ab_cd",
    "1.0c1",
    "1.0rc1",
    "1.0.0-rc.1",
    "9007199254740991",
    "1.0+1.01.001",
    "1.0+a.1",
    "1.0+1.a",
  ]) {
    out.add(odd);
  }
  return [...out];
}

/** Specifier sets: every operator against a few versions, wildcards, compatible release, odd spellings. */
function specifierCorpus(): string[] {
  const operators = ["==", "!=", "<=", ">=", "<", ">", "~=", "==="];
  const versions = [
    "1.0",
    "1.0.0",
    "2",
    "2.6",
    "2.5.1+cu121",
    "1.0a1",
    "2.6.0rc1",
    "1.0.post1",
    "1.0.dev0",
    "1.0.post1.dev0",
    "1!1.0",
    "2.10",
    "v2.6",
    "1.0+local",
    "2.6.*",
    "1!1.*",
    "2.*",
    "2.6.0rc1.*",
    "foo",
  ];
  const specs = new Set<string>();
  for (const op of operators) for (const v of versions) specs.add(`${op}${v}`);
  for (const s of [
    "",
    " , ",
    "== 1.0",
    ">=1.0,<2.0",
    ">=2.5, !=2.6.*",
    ">=1.0,,<2",
    "=>1.0",
    "=1.0",
    "1.0",
    ">=1.0;",
    ">=1.0 <2",
    "~=2.2.post3",
    "~=1.4.5a4",
    "~=1",
    "~=1!1.2",
    "==1.0.*,!=1.0.1",
    "<2.0,>=1.0a1",
    ">1.0.post1",
    ">1.0",
    "<1.0",
    "<=1.0+cpu",
    "==2.5.1+cu121",
    "!=2.5.1+cu121",
    "==2.5.1+CU121",
    "===1.0+cpu",
    "===  1.0",
    ">=2.0.dev0",
    "<2.0.dev0",
    "!=1.0a1",
    "==1.0a1.*",
    "==1.*.0",
    ">=1.0.*",
    "~=1.0.*",
    "== 2.*",
    "==1.0+local.*",
    "<1.0+local",
    "~=1.0+local",
    "== 1.0.*",
    "==1.0 .*",
    "===",
    "==",
    ">=",
    "=== 1.0 ",
    "~= 2.2",
    "!==1.0",
    ">==1.0",
    "<>1.0",
    "==1.0 , <2",
    "(>=1.0)",
    "~=1.0.0.0",
    "~=2.2.0rc1",
    "<=1.0.post1",
    "!=1.0.*,>=0.9",
    "==1.0.0+cu121",
    "==01.0",
    "===1.0.0",
    ">1.0.dev0",
    "<1.0.post1",
    ">=1!0",
    "<1!0",
    ">1.0+cpu",
    "==1.0.post1.*",
    "==1.0.dev0.*",
    ">=1.0.0.0.0.1",
    "!=1.0+cu121",
    "<2.0a1",
    ">2.0a1",
  ]) {
    specs.add(s);
  }
  return [...specs];
}

function runPython(input: unknown): PythonAnswer | string {
  const result = spawnSync("python3", ["-c", PYTHON], {
    input: JSON.stringify(input),
    maxBuffer: 256 * 1024 * 1024,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONIOENCODING: "utf-8" },
  });
  if (result.error) return `python3 cannot be run: ${result.error.message}`;
  if (result.status !== 0) {
    return /ModuleNotFoundError|ImportError/.test(result.stderr)
      ? "python3 cannot import packaging (nor pip._vendor.packaging)"
      : `python3 failed: ${result.stderr.slice(-500)}`;
  }
  return JSON.parse(result.stdout) as PythonAnswer;
}

const versions = [...new Set([...realWorldVersions(), ...syntheticVersions()])];
const specs = specifierCorpus();
const candidateRandom = lcg(503);
const candidates = [
  ...new Set(Array.from({ length: 220 }, () => Math.floor(candidateRandom() * versions.length))),
];
const answer = runPython({ versions, specs, candidates });
const skip = typeof answer === "string" ? answer : false;

/**
 * Where we differ from packaging on purpose. Also not compared: packaging's `prereleases=False`.
 * Our `prereleases: false` means what packaging's None meant before 25.0 (a set that names a
 * pre-release admits pre-releases: a mirror with `prereleases: false, versions: ">=2.6.0rc1"`
 * mirrors 2.6.0rc1, pinned by file-filter.test.ts), so "default" compares that, and "loose"
 * compares `prereleases: true`.
 */
const DELIBERATE: ReadonlyArray<{ why: string; applies: (spec: string, version: string) => boolean }> = [
  {
    why:
      "packaging 26 lets an empty set admit any string, versions or not; we admit a string that is " +
      "not a version to no set but `===` (a file whose version cannot be read is never in range)",
    applies: (spec, version) => spec.replaceAll(",", "").trim() === "" && parseVersion(version) === null,
  },
  {
    why:
      "packaging builds `~=v2.6`'s prefix from the text (`v2.*`), so it matches nothing; PEP 440 " +
      "normalizes the `v` away and we read it as `>=2.6, ==2.*`",
    applies: (spec) => /^~=\s*v/i.test(spec.trim()),
  },
];

/**
 * Specifier sets packaging accepts and we reject on purpose: `===` with nothing after it (its
 * pattern allows an empty arbitrary string, which matches only ""); in a config it is a typo.
 */
const DELIBERATELY_REJECTED = new Set(["==="]);

/** A string quoted, so that whitespace shows. */
const show = (s: string): string => JSON.stringify(s);

function firstMismatches(mismatches: string[]): string {
  return `${mismatches.length} mismatches, first: ${mismatches.slice(0, 15).join("; ")}`;
}

describe("PEP 440 against pypa/packaging", { skip }, () => {
  const py = answer as PythonAnswer;

  it("the corpus has real-world versions and a few thousand in all", () => {
    assert.ok(realWorldVersions().length > 1000, "versions from the real-world fixtures");
    assert.ok(versions.length > 2500, `${versions.length} versions`);
    assert.equal(py.versions.length, versions.length);
  });

  it("the same strings are versions, with the same normalized form and pre-release flag", () => {
    const mismatches: string[] = [];
    versions.forEach((text, i) => {
      const theirs = py.versions[i];
      const ours = parseVersion(text);
      if (theirs?.valid !== (ours !== null)) {
        mismatches.push(`${show(text)}: packaging ${theirs?.valid ? "accepts" : "rejects"} it, we do not`);
      } else if (ours !== null && theirs !== undefined) {
        if (formatVersion(ours) !== theirs.norm)
          mismatches.push(`${show(text)}: ${formatVersion(ours)} vs ${theirs.norm}`);
        if (isPrerelease(ours) !== theirs.pre)
          mismatches.push(`${show(text)}: pre-release ${isPrerelease(ours)}`);
      }
    });
    assert.deepEqual(mismatches, [], firstMismatches(mismatches));
  });

  it("valid versions sort in the same order, with the same ties", () => {
    const valid = versions
      .map((text, i) => ({ i, text, v: parseVersion(text) }))
      .filter((e): e is { i: number; text: string; v: Version } => e.v !== null);
    valid.sort((a, b) => compareVersions(a.v, b.v));
    const mismatches: string[] = [];
    let rank = -1;
    valid.forEach((e, n) => {
      const previous = valid[n - 1];
      if (previous === undefined || compareVersions(previous.v, e.v) !== 0) rank++;
      if (py.ranks[String(e.i)] !== rank) {
        mismatches.push(`${show(e.text)}: rank ${rank}, packaging ${py.ranks[String(e.i)]}`);
      }
    });
    assert.ok(valid.length > 2000);
    assert.deepEqual(mismatches.slice(0, 1), [], firstMismatches(mismatches));
  });

  it("the same specifier sets are valid, and they admit the same versions", () => {
    const mismatches: string[] = [];
    let checked = 0;
    specs.forEach((text, s) => {
      const theirs = py.specs[s];
      let ours: SpecifierSet | undefined;
      try {
        ours = parseSpecifierSet(text);
      } catch {
        ours = undefined;
      }
      if (theirs?.valid && ours === undefined && DELIBERATELY_REJECTED.has(text.trim())) return;
      if (theirs?.valid !== (ours !== undefined)) {
        mismatches.push(
          `spec ${show(text)}: packaging ${theirs?.valid ? "accepts" : "rejects"} it, we do not`,
        );
        return;
      }
      if (ours === undefined || theirs === undefined) return;
      candidates.forEach((vi, c) => {
        const version = versions[vi] as string;
        const modes = [
          ["loose", theirs.loose, matchesSpecifierSet(ours, version, { prereleases: true })],
          ["default", theirs.default, matchesSpecifierSet(ours, version)],
        ] as const;
        for (const [mode, answers, mine] of modes) {
          checked++;
          const expected = answers?.[c];
          if (expected === "e") continue; // packaging raised: nothing to compare with
          if ((expected === "1") !== mine && !DELIBERATE.some((d) => d.applies(text, version))) {
            mismatches.push(
              `${show(text)} ${mode} ${show(version)}: ours ${mine}, packaging ${expected === "1"}`,
            );
          }
        }
      });
    });
    assert.ok(checked > 30_000, `${checked} comparisons`);
    assert.deepEqual(mismatches.slice(0, 1), [], firstMismatches(mismatches));
  });
});
