import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type MatchOptions, matchesSpecifierSet, parseSpecifierSet } from "./pep440-specifier.js";
import { parseVersion } from "./pep440-version.js";

function matches(spec: string, version: string, options?: MatchOptions): boolean {
  return matchesSpecifierSet(parseSpecifierSet(spec), version, options);
}

/** Asserts which of `versions` match `spec`. */
function assertMatching(spec: string, versions: string[], expected: string[], options?: MatchOptions): void {
  assert.deepEqual(
    versions.filter((x) => matches(spec, x, options)),
    expected,
    `${spec}${options?.prereleases ? " (prereleases)" : ""}`,
  );
}

describe("parseSpecifierSet", () => {
  test("reads operators, versions, wildcards and comma-separated parts", () => {
    const set = parseSpecifierSet(" >=2.5 , <3,!=2.6.* ,~=2.5.1,===foo, == 2.5.1+cu121");
    assert.deepEqual(
      set.specifiers.map((s) => [s.operator, s.version, s.prefix]),
      [
        [">=", "2.5", false],
        ["<", "3", false],
        ["!=", "2.6.*", true],
        ["~=", "2.5.1", false],
        ["===", "foo", false],
        ["==", "2.5.1+cu121", false],
      ],
    );
    assert.deepEqual(set.specifiers[2]?.parsed, parseVersion("2.6"));
    assert.equal(set.specifiers[4]?.parsed, undefined);
  });

  test("treats an empty string and empty parts as no constraint", () => {
    assert.deepEqual(parseSpecifierSet("").specifiers, []);
    assert.deepEqual(parseSpecifierSet(" , ").specifiers, []);
    assert.equal(parseSpecifierSet(">=1,,<2").specifiers.length, 2);
  });

  test("rejects bad specifiers with a message naming the bad part", () => {
    const cases: Array<[string, string]> = [
      ["=>2.5", "=>2.5"],
      ["2.5", "2.5"],
      [">=2.5, =>2.6", "=>2.6"],
      [">=2.5+cu121", ">=2.5+cu121"],
      ["<2.5+cpu", "<2.5+cpu"],
      ["~=2", "~=2"],
      ["~=2.5+cpu", "~=2.5+cpu"],
      ["~=1.0.*", "~=1.0.*"],
      ["==2.*.1", "==2.*.1"],
      ["==2.5.*+cu121", "==2.5.*+cu121"],
      ["==1.0a1.*", "==1.0a1.*"],
      ["<2.*", "<2.*"],
      [">=2.*", ">=2.*"],
      [">=", ">="],
      ["==", "=="],
      ["===", "==="],
      ["== 2.5 .*", "== 2.5 .*"],
      [">=2.5;", ">=2.5;"],
      ["==2.5 2.6", "==2.5 2.6"],
      ["!==2.5", "!==2.5"],
      ["=2.5", "=2.5"],
      [">=two", ">=two"],
    ];
    for (const [input, part] of cases) {
      assert.throws(
        () => parseSpecifierSet(input),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.equal(err.message, `not a PEP 440 specifier: ${JSON.stringify(part)}`);
          return true;
        },
        input,
      );
    }
  });
});

describe("matchesSpecifierSet", () => {
  const torch = [
    "2.4.1",
    "2.4.1+cu121",
    "2.5.0",
    "2.5.1",
    "2.5.1+cpu",
    "2.5.1+cu121",
    "2.5.1+rocm6.2",
    "2.6.0",
  ];

  test("ignores the candidate's local label when the specifier has none", () => {
    assertMatching(">=2.5", torch, ["2.5.0", "2.5.1", "2.5.1+cpu", "2.5.1+cu121", "2.5.1+rocm6.2", "2.6.0"]);
    assertMatching("==2.5.1", torch, ["2.5.1", "2.5.1+cpu", "2.5.1+cu121", "2.5.1+rocm6.2"]);
    assertMatching("<=2.5.1", torch, torch.slice(0, 7));
    assertMatching("!=2.5.1", torch, ["2.4.1", "2.4.1+cu121", "2.5.0", "2.6.0"]);
  });

  test("matches a local label exactly when the specifier names one", () => {
    assertMatching("==2.5.1+cu121", torch, ["2.5.1+cu121"]);
    assertMatching("==2.5.1+CU121", torch, ["2.5.1+cu121"]);
    assertMatching("==2.4.1+cpu", torch, []);
    assertMatching(
      "!=2.5.1+cu121",
      torch,
      torch.filter((x) => x !== "2.5.1+cu121"),
    );
    assert.equal(matches("==1.0+rocm6.4", "1.0+rocm6.4"), true);
    assert.equal(matches("==1.0+rocm6.4", "1.0+rocm6.4.0"), false);
  });

  test("keeps local versions of the bound out of exclusive < and >", () => {
    assertMatching("<2.5.1", torch, ["2.4.1", "2.4.1+cu121", "2.5.0"]);
    assertMatching(">2.5.1", torch, ["2.6.0"]);
    assertMatching(">2.5", torch, ["2.5.1", "2.5.1+cpu", "2.5.1+cu121", "2.5.1+rocm6.2", "2.6.0"]);
    assertMatching(">=2.5,<2.6", torch, ["2.5.0", "2.5.1", "2.5.1+cpu", "2.5.1+cu121", "2.5.1+rocm6.2"]);
  });

  test("`<V` excludes pre-releases of V itself and `>V` excludes post-releases of V", () => {
    const versions = ["3.0.dev0", "3.0", "3.0.post0", "3.1.dev0", "3.1a1", "3.1", "3.1.post0", "3.2.post0"];
    const pre = { prereleases: true };
    assertMatching("<3.1", versions, ["3.0.dev0", "3.0", "3.0.post0"], pre);
    assertMatching("<3.1a2", versions, ["3.0.dev0", "3.0", "3.0.post0", "3.1.dev0", "3.1a1"], pre);
    assertMatching(">3.1", versions, ["3.2.post0"], pre);
    assertMatching(
      ">3.1.post0",
      ["3.1.post0", "3.1.post1", "3.1.post1+cpu", "3.2"],
      ["3.1.post1", "3.1.post1+cpu", "3.2"],
    );
    assertMatching(">3.0", versions, ["3.1", "3.1.post0", "3.2.post0"]);
  });

  test("the exclusive rules look at V itself, not at every version sharing its release", () => {
    const pre = { prereleases: true };
    // 1.0a1 is not a pre-release of 1.0.post1, 1.0.post1.dev0 is.
    assertMatching(
      "<1.0.post1",
      ["1.0a1", "1.0.post1.dev0", "1.0", "1.0.post0"],
      ["1.0a1", "1.0", "1.0.post0"],
      pre,
    );
    assertMatching("<3.1", ["3.1.dev0", "3.1a1", "3.0.post1.dev0", "3.1.0rc1"], ["3.0.post1.dev0"], pre);
    // 1.0a2+local is a local version of 1.0a2, not of 1.0a1; 1.0a1.post0 is a post-release of 1.0a1.
    assertMatching(
      ">1.0a1",
      ["1.0a1+local", "1.0a2+local", "1.0a1.post0", "1.0a1.post0+x"],
      ["1.0a2+local"],
      pre,
    );
  });

  test("~= means >= V and == V's release without its last component, .*", () => {
    const versions = ["2.1", "2.2", "2.2.post3", "2.2.5", "2.3", "2.9.1+cu121", "3.0", "3.0.1"];
    assertMatching("~=2.2", versions, ["2.2", "2.2.post3", "2.2.5", "2.3", "2.9.1+cu121"]);
    assertMatching("~=2.2.0", versions, ["2.2", "2.2.post3", "2.2.5"]);
    assertMatching("~=2.2.post3", versions, ["2.2.post3", "2.2.5", "2.3", "2.9.1+cu121"]);
    // Naming a pre-release opts in to pre-releases.
    assertMatching(
      "~=1.4.5a4",
      ["1.4.5a3", "1.4.5a4", "1.4.5", "1.4.9", "1.5", "1.5a1"],
      ["1.4.5a4", "1.4.5", "1.4.9"],
    );
    assertMatching("~=1!2.0", ["2.0", "1!2.0", "1!2.5", "1!3.0"], ["1!2.0", "1!2.5"]);
  });

  test("==V.* and !=V.* match on the release prefix, zero-padded, ignoring the rest", () => {
    const versions = ["1.9", "2", "2.0", "2.0.post1", "2.4.1+cu121", "2.10.0", "3.0", "1!2.0"];
    assertMatching("==2.*", versions, ["2", "2.0", "2.0.post1", "2.4.1+cu121", "2.10.0"]);
    assertMatching("!=2.*", versions, ["1.9", "3.0", "1!2.0"]);
    assertMatching("==2.0.*", versions, ["2", "2.0", "2.0.post1"]);
    assertMatching("==2.0.0.*", ["2", "2.0.0.1", "2.0.1"], ["2", "2.0.0.1"]);
    assertMatching("==1!2.*", versions, ["1!2.0"]);
    // The spec's examples for 1.1.post1 and 1.1a1.
    assert.equal(matches("==1.1", "1.1.post1"), false);
    assert.equal(matches("==1.1.post1", "1.1.post1"), true);
    assert.equal(matches("==1.1.*", "1.1.post1"), true);
    assert.equal(matches("==1.1.*", "1.1a1"), false);
    assert.equal(matches("==1.1.*", "1.1a1", { prereleases: true }), true);
    assert.equal(matches("==1.1a1", "1.1a1"), true);
  });

  test("== pads the release with zeros and does not match pre, post or dev releases of V", () => {
    for (const [spec, expected] of [
      ["==1.1", true],
      ["==1.1.0", true],
      ["==1.1.dev1", false],
      ["==1.1a1", false],
      ["==1.1.post1", false],
      ["==1.1.*", true],
    ] as const) {
      assert.equal(matches(spec, "1.1", { prereleases: true }), expected, spec);
    }
  });

  test("compares epochs", () => {
    assertMatching(">=1!0", ["5.0", "1!0.1", "2!0.1"], ["1!0.1", "2!0.1"]);
    assertMatching("<1!0", ["5.0", "1!0.1"], ["5.0"]);
    assertMatching("==0!1.0", ["1.0", "1!1.0"], ["1.0"]);
  });

  test("post and dev releases", () => {
    assertMatching(
      ">=1.0.post2",
      ["1.0", "1.0.post1", "1.0.post2", "1.0.post10", "1.1"],
      ["1.0.post2", "1.0.post10", "1.1"],
    );
    assertMatching(
      "==0.3.0.post4",
      ["0.3.0", "0.3.0.post4", "0.3.0-4", "0.3.0.post40"],
      ["0.3.0.post4", "0.3.0-4"],
    );
    assertMatching(
      ">=2.6.0.dev0",
      ["2.5.1", "2.6.0.dev20241112+cu124", "2.6.0rc1", "2.6.0"],
      ["2.6.0.dev20241112+cu124", "2.6.0rc1", "2.6.0"],
    );
  });

  test("excludes pre-releases unless asked for or named by a specifier", () => {
    const versions = ["2.5.1", "2.6.0.dev20241112", "2.6.0rc1", "2.6.0", "2.7.0a0+git123"];
    assertMatching(">=2.5", versions, ["2.5.1", "2.6.0"]);
    assertMatching(">=2.5", versions, versions, { prereleases: true });
    // `prereleases: false` is the same as leaving it out: a specifier naming one still opts in.
    assertMatching(">=2.5", versions, ["2.5.1", "2.6.0"], { prereleases: false });
    assertMatching(">=2.6.0rc1", versions, ["2.6.0rc1", "2.6.0", "2.7.0a0+git123"]);
    assertMatching(">=2.6.0rc1", versions, ["2.6.0rc1", "2.6.0", "2.7.0a0+git123"], { prereleases: false });
    assertMatching("==2.6.0rc1", versions, ["2.6.0rc1"]);
    assertMatching("<2.6.0rc2", versions, ["2.5.1", "2.6.0.dev20241112", "2.6.0rc1"]);
    // `!=` never opts in.
    assertMatching("!=2.6.0rc1", versions, ["2.5.1", "2.6.0"]);
    assertMatching("", versions, ["2.5.1", "2.6.0"]);
    assertMatching("", versions, versions, { prereleases: true });
  });

  test("=== compares text exactly, case-insensitively, without normalizing", () => {
    assert.equal(matches("===2.5.1+cu121", "2.5.1+cu121"), true);
    assert.equal(matches("===2.5.1+cu121", "2.5.1+CU121"), true);
    assert.equal(matches("===2.5.1+cu121", "2.5.1"), false);
    assert.equal(matches("===1.0", "1.0.0"), false);
    assert.equal(matches("===1.0", "v1.0"), false);
    assert.equal(matches("===foobar", "foobar"), true);
    // A parsed Version is compared by its normalized form.
    assert.equal(matchesSpecifierSet(parseSpecifierSet("===1.0a1"), parseVersion("1.0.alpha1") ?? "x"), true);
  });

  test("a candidate that is not a version matches nothing but ===", () => {
    assert.equal(matches(">=0", "french toast"), false);
    assert.equal(matches("", "french toast"), false);
    assert.equal(matches("===french-toast", "French-Toast"), true);
  });

  test("accepts parsed versions as well as strings", () => {
    const set = parseSpecifierSet(">=2.5,!=2.5.0");
    assert.equal(matchesSpecifierSet(set, parseVersion("2.5.1+cu121") ?? "x"), true);
    assert.equal(matchesSpecifierSet(set, parseVersion("2.5.0+cu121") ?? "x"), false);
  });
});
