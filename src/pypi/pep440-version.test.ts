import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  compareVersions,
  formatVersion,
  isPrerelease,
  parseVersion,
  publicVersion,
  type Version,
} from "./pep440-version.js";

function v(s: string): Version {
  const parsed = parseVersion(s);
  assert.ok(parsed, `expected ${JSON.stringify(s)} to parse`);
  return parsed;
}

function cmp(a: string, b: string): number {
  return Math.sign(compareVersions(v(a), v(b)));
}

describe("parseVersion", () => {
  test("reads every part of a version", () => {
    assert.deepEqual(v("1!2.0.3rc4.post5.dev6+cu121.7"), {
      epoch: 1,
      release: [2, 0, 3],
      pre: { label: "rc", number: 4 },
      post: 5,
      dev: 6,
      local: ["cu121", 7],
    });
    assert.deepEqual(v("2.5.1"), { epoch: 0, release: [2, 5, 1] });
  });

  test("normalizes the alternate spellings the spec allows", () => {
    const cases: Array<[string, string]> = [
      ["1.0", "1.0"],
      ["v1.0", "1.0"],
      ["V1.0", "1.0"],
      ["  1.0\n", "1.0"],
      ["0!1.0", "1.0"],
      ["01.02.003", "1.2.3"],
      ["1.0a1", "1.0a1"],
      ["1.0.alpha.2", "1.0a2"],
      ["1.0-ALPHA_2", "1.0a2"],
      ["1.0a", "1.0a0"],
      ["1.0beta3", "1.0b3"],
      ["1.0.B3", "1.0b3"],
      ["1.0c1", "1.0rc1"],
      ["1.0pre1", "1.0rc1"],
      ["1.0preview2", "1.0rc2"],
      ["1.0-rc.3", "1.0rc3"],
      ["1.0-1", "1.0.post1"],
      ["1.0_post_2", "1.0.post2"],
      ["1.0.post", "1.0.post0"],
      ["1.0-r4", "1.0.post4"],
      ["1.0rev5", "1.0.post5"],
      ["1.0.dev", "1.0.dev0"],
      ["1.0-dev-1", "1.0.dev1"],
      ["1.0.DEV7", "1.0.dev7"],
      ["1.0a1-1.dev2", "1.0a1.post1.dev2"],
      ["1.0+Ubuntu-01", "1.0+ubuntu.1"],
      ["1.0+abc_5", "1.0+abc.5"],
      ["2.5.1+cu121", "2.5.1+cu121"],
      ["2.5.1+rocm6.2.4", "2.5.1+rocm6.2.4"],
      ["3.0.0+45fff310c8", "3.0.0+45fff310c8"],
      ["2.6.0.dev20241112+cu124", "2.6.0.dev20241112+cu124"],
    ];
    for (const [input, normalized] of cases) assert.equal(formatVersion(v(input)), normalized, input);
  });

  test("rejects what is not a PEP 440 version", () => {
    for (const bad of [
      "",
      "french toast",
      "1.0+",
      "1.0+a+b",
      "1..0",
      ".1",
      "1.0.*",
      "a1.0",
      "1.0-dev-a",
      "1!2!3",
      "1.0 .post1",
      "1.0+_a",
      "1.0-",
      "1.0.post1.post2",
      "1.0a1b1",
      "2.5.1+cu121+cpu",
      "vv1.0",
    ]) {
      assert.equal(parseVersion(bad), null, JSON.stringify(bad));
    }
  });

  test("rejects numbers a JS number cannot hold exactly instead of misordering them", () => {
    assert.equal(parseVersion("1.9007199254740993"), null);
    assert.equal(parseVersion("1.0+9007199254740993"), null);
    assert.deepEqual(v("1.9007199254740991").release, [1, 9007199254740991]);
  });
});

describe("compareVersions", () => {
  // The spec's example of the full ordering (summary of permitted suffixes and relative ordering).
  const specOrder = [
    "1.dev0",
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
  ];

  test("sorts the spec's example into the spec's order", () => {
    // Reverse, then interleave, so the sort has real work to do.
    const shuffled = [...specOrder].reverse();
    const mixed = [...shuffled.filter((_, i) => i % 2 === 0), ...shuffled.filter((_, i) => i % 2 === 1)];
    const sorted = mixed.map(v).sort(compareVersions).map(formatVersion);
    assert.deepEqual(sorted, specOrder);
  });

  test("is a consistent total order over the spec's example", () => {
    for (const [i, a] of specOrder.entries()) {
      for (const [j, b] of specOrder.entries()) {
        assert.equal(cmp(a, b), Math.sign(i - j), `${a} vs ${b}`);
      }
    }
  });

  test("ignores trailing zeros in the release and spelling differences", () => {
    assert.equal(cmp("1.0", "1"), 0);
    assert.equal(cmp("1.0.0", "1"), 0);
    assert.equal(cmp("1.0.0.0+cpu", "1+cpu"), 0);
    assert.equal(cmp("1.0c1", "1.0rc1"), 0);
    assert.equal(cmp("1.0-1", "1.0.post1"), 0);
    assert.equal(cmp("v2.5.1", "2.5.1"), 0);
    // Zeros are kept in the normalized form even though they do not affect ordering.
    assert.equal(formatVersion(v("1.0.0")), "1.0.0");
  });

  test("orders by epoch before anything else", () => {
    assert.equal(cmp("1!0.1", "2024.10"), 1);
    assert.equal(cmp("0!9.9", "9.9"), 0);
    assert.equal(cmp("2!1.0", "1!2.0"), 1);
  });

  test("orders release components numerically, not as text", () => {
    assert.equal(cmp("2.10.0", "2.9.1"), 1);
    assert.equal(cmp("1.10", "1.9"), 1);
    assert.equal(cmp("0.3.0.post4", "0.3.0.post10"), -1);
  });

  test("puts a bare dev release before the pre-releases and a post release's dev before the post", () => {
    assert.equal(cmp("1.0.dev0", "1.0a0"), -1);
    assert.equal(cmp("1.0a1.dev0", "1.0a1"), -1);
    assert.equal(cmp("1.0.post1.dev0", "1.0"), 1);
    assert.equal(cmp("1.0.post1.dev0", "1.0.post1"), -1);
    assert.equal(cmp("1.0rc1", "1.0"), -1);
    assert.equal(cmp("1.0.post1", "1.0"), 1);
  });

  test("orders local labels: none first, then segment by segment, numbers above letters", () => {
    assert.equal(cmp("2.5.1", "2.5.1+cpu"), -1);
    assert.equal(cmp("2.5.1+cpu", "2.5.1+cu121"), -1);
    assert.equal(cmp("2.5.1+cu121", "2.5.1+cu124"), -1);
    assert.equal(cmp("2.5.1+cu124", "2.5.1+rocm6.1"), -1);
    assert.equal(cmp("2.5.1+rocm6.2.4", "2.5.1+rocm6.4"), -1);
    assert.equal(cmp("2.5.1+rocm6.4", "2.5.1+xpu"), -1);
    assert.equal(cmp("1.0+abc", "1.0+abc.5"), -1);
    assert.equal(cmp("1.0+abc.5", "1.0+5"), -1);
    assert.equal(cmp("1.0+5", "1.0+5.abc"), -1);
    assert.equal(cmp("1.0+9", "1.0+10"), -1);
    assert.equal(cmp("1.0+ABC", "1.0+abc"), 0);
    assert.equal(cmp("1.0+01", "1.0+1"), 0);
    // Any local label of 2.5.1 is still below 2.5.1's post releases and 2.5.2.
    assert.equal(cmp("2.5.1+zzz", "2.5.1.post0"), -1);
    assert.equal(cmp("2.5.1+rocm6.4", "2.5.2"), -1);
  });
});

describe("isPrerelease", () => {
  test("is true for a, b, rc and dev releases only", () => {
    for (const s of ["1.0a1", "1.0b2", "1.0rc1", "1.0.dev0", "1.0.post1.dev0", "2.6.0.dev20241112+cu124"]) {
      assert.equal(isPrerelease(v(s)), true, s);
    }
    for (const s of ["1.0", "1.0.post1", "2.5.1+cu121", "1!1.0"]) assert.equal(isPrerelease(v(s)), false, s);
  });
});

describe("publicVersion", () => {
  test("drops the local label and leaves the argument untouched", () => {
    const local = v("1!2.5.1rc1.post2.dev3+cu121");
    assert.equal(formatVersion(publicVersion(local)), "1!2.5.1rc1.post2.dev3");
    assert.equal(formatVersion(local), "1!2.5.1rc1.post2.dev3+cu121");
    const pub = publicVersion(local);
    pub.release.push(9);
    assert.deepEqual(local.release, [2, 5, 1]);
  });
});
