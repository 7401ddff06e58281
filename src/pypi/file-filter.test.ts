import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { realWorldFixture } from "../../test/helpers/repo-root.js";
import { type FileFilters, selectFiles } from "./file-filter.js";
import type { DistributionFile, ProjectPage } from "./project-page.js";

function file(filename: string, extra: Partial<DistributionFile> = {}): DistributionFile {
  return {
    filename,
    url: `https://files.example/${encodeURIComponent(filename)}`,
    hashes: {},
    yanked: false,
    coreMetadata: false,
    ...extra,
  };
}

function page(name: string, files: Array<string | DistributionFile>): ProjectPage {
  return { name, files: files.map((f) => (typeof f === "string" ? file(f) : f)), meta: {} };
}

const ALL: FileFilters = { prereleases: true, sdists: true, yanked: true };

function selectedNames(p: ProjectPage, filters: Partial<FileFilters>): string[] {
  return selectFiles(p, { ...ALL, ...filters }).selected.map((f) => f.filename);
}

/** A page from one of the real download.pytorch.org listings (plain CSV, CRLF). */
function torchPage(csv: string): ProjectPage {
  const [header, ...lines] = readFileSync(realWorldFixture("torch-wheels", csv), "utf8")
    .split(/\r?\n/)
    .filter((l) => l !== "");
  const columns = (header ?? "").split(",");
  const files = lines.map((line) => {
    const cells = line.split(",");
    const row = Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""]));
    return file(row.filename ?? "", {
      url: `https://download.pytorch.org${row.href}`,
      hashes: row.sha256 ? { sha256: row.sha256 } : {},
      coreMetadata: row.core_metadata_sha256 ? { sha256: row.core_metadata_sha256 } : false,
    });
  });
  return { name: "torch", files, meta: {} };
}

describe("selectFiles", () => {
  test("keeps everything, in page order, when no filter applies", () => {
    const p = page("foo", [
      "foo-2.0-py3-none-any.whl",
      "foo-1.0.tar.gz",
      "foo-1.5-cp311-cp311-win_amd64.whl",
    ]);
    const { selected, skipped } = selectFiles(p, ALL);
    assert.deepEqual(selected, p.files);
    assert.equal(selected[0], p.files[0]);
    assert.deepEqual(skipped, []);
  });

  test("skips names that are not wheels or sdists, with a reason", () => {
    const p = page("foo", [
      "foo-1.0.win32.exe",
      "foo-1.0-py2.7.egg",
      "foo-1.0.tar.gz",
      "foo-x-py3-none-any.whl",
    ]);
    const { selected, skipped } = selectFiles(p, ALL);
    assert.deepEqual(
      selected.map((f) => f.filename),
      ["foo-1.0.tar.gz"],
    );
    assert.deepEqual(skipped, [
      { filename: "foo-1.0.win32.exe", reason: "not a wheel or sdist file name" },
      { filename: "foo-1.0-py2.7.egg", reason: "not a wheel or sdist file name" },
      { filename: "foo-x-py3-none-any.whl", reason: "not a wheel or sdist file name" },
    ]);
  });

  test("drops yanked files unless asked to keep them, which stay marked yanked", () => {
    const yanked = file("foo-1.0-py3-none-any.whl", { yanked: "broken" });
    const bare = file("foo-1.1-py3-none-any.whl", { yanked: "" });
    const p = page("foo", [yanked, bare, "foo-1.2-py3-none-any.whl"]);
    const dropped = selectFiles(p, { ...ALL, yanked: false });
    assert.deepEqual(
      dropped.selected.map((f) => f.filename),
      ["foo-1.2-py3-none-any.whl"],
    );
    assert.deepEqual(
      dropped.skipped.map((s) => s.reason),
      ["yanked", "yanked"],
    );
    const kept = selectFiles(p, ALL);
    assert.equal(kept.selected.length, 3);
    assert.equal(kept.selected[0]?.yanked, "broken");
  });

  test("keeps sdists only when asked, whatever the platform and python filters", () => {
    const p = page("foo", ["foo-1.0.tar.gz", "foo-1.0.zip", "foo-1.0-cp27-cp27mu-linux_i686.whl"]);
    const filters = { platforms: ["win_amd64"], python: ["cp312"] };
    assert.deepEqual(selectedNames(p, { ...filters, sdists: true }), ["foo-1.0.tar.gz", "foo-1.0.zip"]);
    const none = selectFiles(p, { ...ALL, ...filters, sdists: false });
    assert.deepEqual(none.selected, []);
    assert.deepEqual(
      none.skipped.map((s) => s.reason),
      ["sdist", "sdist", "platform linux_i686 not wanted"],
    );
  });

  test("applies the version specifier set, local labels ignored unless named", () => {
    const p = page("torch", [
      "torch-2.4.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1-cp311-none-macosx_11_0_arm64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { versions: ">=2.5" }), [
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1-cp311-none-macosx_11_0_arm64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { versions: "==2.5.1+cu121" }), [
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
    ]);
    assert.deepEqual(selectFiles(p, { ...ALL, versions: ">=2.5" }).skipped, [
      {
        filename: "torch-2.4.1+cu121-cp311-cp311-linux_x86_64.whl",
        reason: 'version 2.4.1+cu121 does not match ">=2.5"',
      },
    ]);
  });

  test("throws on an invalid version specifier", () => {
    assert.throws(() => selectFiles(page("foo", []), { ...ALL, versions: "=>2.5" }), {
      message: 'not a PEP 440 specifier: "=>2.5"',
    });
  });

  test("drops pre-releases unless asked for or named by the specifier", () => {
    const p = page("torch", [
      "torch-2.6.0rc1-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0.dev20241112+cu124-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0rc1.tar.gz",
    ]);
    const dropped = selectFiles(p, { ...ALL, prereleases: false });
    assert.deepEqual(
      dropped.selected.map((f) => f.filename),
      ["torch-2.6.0-cp311-cp311-linux_x86_64.whl"],
    );
    assert.deepEqual(
      dropped.skipped.map((s) => s.reason),
      ["pre-release 2.6.0rc1", "pre-release 2.6.0.dev20241112+cu124", "pre-release 2.6.0rc1"],
    );
    assert.deepEqual(selectedNames(p, { prereleases: false, versions: ">=2.6.0rc1" }), [
      "torch-2.6.0rc1-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0rc1.tar.gz",
    ]);
    assert.equal(selectedNames(p, { prereleases: true }).length, 4);
  });

  test("keeps wheels with any platform tag matching any glob, and platform `any` always", () => {
    const p = page("foo", [
      "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      "foo-1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
      "foo-1.0-cp311-cp311-linux_x86_64.whl",
      "foo-1.0-cp311-cp311-musllinux_1_1_x86_64.whl",
      "foo-1.0-cp311-cp311-win_amd64.whl",
      "foo-1.0-cp311-cp311-macosx_10_9_x86_64.whl",
      "foo-1.0-py3-none-any.whl",
    ]);
    assert.deepEqual(selectedNames(p, { platforms: ["manylinux*_x86_64", "linux_x86_64"] }), [
      "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      "foo-1.0-cp311-cp311-linux_x86_64.whl",
      "foo-1.0-py3-none-any.whl",
    ]);
    assert.deepEqual(selectedNames(p, { platforms: ["manylinux2014_*"] }), [
      "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      "foo-1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
      "foo-1.0-py3-none-any.whl",
    ]);
    // `?` is one character; everything else, dots included, is literal.
    assert.deepEqual(selectedNames(p, { platforms: ["win_amd6?", "macosx_10.9*"] }), [
      "foo-1.0-cp311-cp311-win_amd64.whl",
      "foo-1.0-py3-none-any.whl",
    ]);
    assert.deepEqual(selectedNames(p, { platforms: [] }), ["foo-1.0-py3-none-any.whl"]);
    assert.deepEqual(selectFiles(p, { ...ALL, platforms: ["linux_x86_64"] }).skipped[0], {
      filename: "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      reason: "platform manylinux_2_17_x86_64.manylinux2014_x86_64 not wanted",
    });
  });

  test("keeps wheels whose python or abi tag is listed", () => {
    const p = page("foo", [
      "foo-1.0-cp310-cp310-linux_x86_64.whl",
      "foo-1.0-cp311-cp311-linux_x86_64.whl",
      "foo-1.0-cp312-cp312-linux_x86_64.whl",
      "foo-1.0-cp313-cp313t-linux_x86_64.whl",
      "foo-1.0-cp311-none-macosx_11_0_arm64.whl",
      "foo-1.0-pp310-pypy310_pp73-linux_x86_64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp311", "cp312"] }), [
      "foo-1.0-cp311-cp311-linux_x86_64.whl",
      "foo-1.0-cp312-cp312-linux_x86_64.whl",
      "foo-1.0-cp311-none-macosx_11_0_arm64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp313t"] }), ["foo-1.0-cp313-cp313t-linux_x86_64.whl"]);
    assert.deepEqual(selectedNames(p, { python: ["pp310"] }), [
      "foo-1.0-pp310-pypy310_pp73-linux_x86_64.whl",
    ]);
    assert.deepEqual(selectFiles(p, { ...ALL, python: ["cp311"] }).skipped[0], {
      filename: "foo-1.0-cp310-cp310-linux_x86_64.whl",
      reason: "python cp310-cp310 not wanted",
    });
  });

  test("keeps generic pure-python wheels of a listed major version not newer than a listed minor", () => {
    const p = page("foo", [
      "foo-1.0-py3-none-any.whl",
      "foo-1.0-py2.py3-none-any.whl",
      "foo-1.0-py2-none-any.whl",
      "foo-1.0-py311-none-any.whl",
      "foo-1.0-py313-none-any.whl",
      "foo-1.0-py3-none-manylinux_2_17_x86_64.whl",
      "foo-1.0-py3-abi3-any.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp312"] }), [
      "foo-1.0-py3-none-any.whl",
      "foo-1.0-py2.py3-none-any.whl",
      "foo-1.0-py311-none-any.whl",
      "foo-1.0-py3-none-manylinux_2_17_x86_64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp27"] }), [
      "foo-1.0-py2.py3-none-any.whl",
      "foo-1.0-py2-none-any.whl",
    ]);
    // Free-threaded interpreters run pure-python wheels too.
    assert.ok(selectedNames(p, { python: ["cp313t"] }).includes("foo-1.0-py313-none-any.whl"));
    // The platform filter still judges the platform of a generic wheel.
    assert.deepEqual(selectedNames(p, { python: ["cp312"], platforms: ["win_amd64"] }), [
      "foo-1.0-py3-none-any.whl",
      "foo-1.0-py2.py3-none-any.whl",
      "foo-1.0-py311-none-any.whl",
    ]);
  });

  test("keeps cpXY-abi3 wheels when some listed cpAB has AB >= XY in the same major", () => {
    const p = page("foo", [
      "foo-1.0-cp38-abi3-manylinux_2_17_x86_64.whl",
      "foo-1.0-cp311-abi3-win_amd64.whl",
      "foo-1.0-cp313-abi3-win_amd64.whl",
      "foo-1.0-cp37.cp38-abi3-win_amd64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp312"] }), [
      "foo-1.0-cp38-abi3-manylinux_2_17_x86_64.whl",
      "foo-1.0-cp311-abi3-win_amd64.whl",
      "foo-1.0-cp37.cp38-abi3-win_amd64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { python: ["cp37"] }), ["foo-1.0-cp37.cp38-abi3-win_amd64.whl"]);
    assert.deepEqual(selectedNames(p, { python: ["cp27"] }), []);
    // The stable ABI does not exist on free-threaded builds.
    assert.deepEqual(selectedNames(p, { python: ["cp313t"] }), []);
  });

  test("keepLatest keeps the N highest releases, every local build of a release counting as that release", () => {
    const p = page("torch", [
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cpu-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl",
      "torch-2.4.0-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0-cp311-none-macosx_11_0_arm64.whl",
      "torch-2.7.0rc1+cu126-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1.0+cu121-cp312-cp312-linux_x86_64.whl",
    ]);
    // Releases: 2.6.0 (+cpu, +cu124, plain) > 2.5.1 (== 2.5.1.0) > 2.4.0; the rc is filtered first.
    assert.deepEqual(selectedNames(p, { prereleases: false, keepLatest: 1 }), [
      "torch-2.6.0+cpu-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl",
      "torch-2.6.0-cp311-none-macosx_11_0_arm64.whl",
    ]);
    assert.deepEqual(selectedNames(p, { prereleases: false, keepLatest: 2 }), [
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cpu-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl",
      "torch-2.6.0-cp311-none-macosx_11_0_arm64.whl",
      "torch-2.5.1.0+cu121-cp312-cp312-linux_x86_64.whl",
    ]);
    // Counted after the other filters: of the cp312 files, 2.6.0 and 2.5.1 are the newest releases.
    assert.deepEqual(selectedNames(p, { prereleases: false, keepLatest: 1, python: ["cp312"] }), [
      "torch-2.6.0+cu124-cp312-cp312-linux_x86_64.whl",
    ]);
    const skipped = selectFiles(p, { ...ALL, keepLatest: 1 }).skipped;
    // With prereleases allowed, 2.7.0rc1 is the newest release.
    assert.deepEqual(skipped[0], {
      filename: "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      reason: "version 2.5.1+cu121 is not among the 1 latest",
    });
    assert.equal(skipped.length, 7);
    assert.deepEqual(selectedNames(p, { keepLatest: 0 }).length, 8);
    assert.deepEqual(selectedNames(p, { keepLatest: 100 }).length, 8);
  });

  test("lists every file exactly once, selected or skipped, in page order", () => {
    const p = torchPage("download.pytorch.org_whl_torch_2026-03-15.csv");
    const filters: FileFilters = {
      versions: ">=1.8,!=2.0.*",
      platforms: ["win_*"],
      python: ["cp39"],
      keepLatest: 20,
      prereleases: false,
      sdists: false,
      yanked: false,
    };
    const first = selectFiles(p, filters);
    assert.equal(first.selected.length + first.skipped.length, p.files.length);
    const selected = new Set(first.selected);
    const order = p.files.filter((f) => selected.has(f));
    assert.deepEqual(first.selected, order);
    const skippedNames = p.files.filter((f) => !selected.has(f)).map((f) => f.filename);
    assert.deepEqual(
      first.skipped.map((s) => s.filename),
      skippedNames,
    );
    // Deterministic: same input, same output.
    assert.deepEqual(selectFiles(p, filters), first);
  });
});

describe("selectFiles on the real /whl/torch/ listing", () => {
  const p = torchPage("download.pytorch.org_whl_torch_2026-03-15.csv");
  const base: FileFilters = { prereleases: false, sdists: false, yanked: false };

  // The counts below were checked independently with pypa/packaging 26.2 (parse_wheel_filename,
  // SpecifierSet, fnmatch on platform tags, equality on python/abi tags, keep-latest over Version).

  test("keeps every file when nothing is filtered (the listing has no pre-releases or sdists)", () => {
    assert.equal(selectFiles(p, base).selected.length, 2855);
  });

  test("the design's example config: >=2.5, manylinux*_x86_64/linux_x86_64, cp311/cp312", () => {
    const filters: FileFilters = {
      ...base,
      versions: ">=2.5",
      platforms: ["manylinux*_x86_64", "linux_x86_64"],
      python: ["cp311", "cp312"],
    };
    const all = selectFiles(p, filters).selected;
    assert.equal(all.length, 128);
    // Simple independent check of the same count.
    const expected = p.files.filter((f) => {
      const m =
        /^torch-(\d+)\.(\d+)\.\d+(?:\+[^-]+)?-(cp311|cp312)-\3-(manylinux[^-]*_x86_64|linux_x86_64)\.whl$/.exec(
          f.filename,
        );
      return m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 5));
    });
    assert.deepEqual(all, expected);

    // keepLatest 3 keeps the three newest releases (2.10.0, 2.9.1, 2.9.0) in every CUDA/ROCm/CPU variant.
    const latest = selectFiles(p, { ...filters, keepLatest: 3 }).selected;
    const releases = new Set(latest.map((f) => /^torch-([\d.]+)/.exec(f.filename)?.[1]));
    assert.deepEqual([...releases].sort(), ["2.10.0", "2.9.0", "2.9.1"]);
    assert.deepEqual(
      latest,
      all.filter((f) => /^torch-(2\.10\.0|2\.9\.1|2\.9\.0)[+-]/.test(f.filename)),
    );
    assert.ok(latest.some((f) => f.filename.startsWith("torch-2.10.0+cu128-cp312")));
  });

  test("local labels: ==2.5.1 takes every build of 2.5.1, ==2.5.1+cu121 only that one", () => {
    assert.equal(selectFiles(p, { ...base, versions: "==2.5.1" }).selected.length, 56);
    const cu121 = selectFiles(p, { ...base, versions: "==2.5.1+cu121" }).selected;
    assert.equal(cu121.length, 9);
    assert.ok(cu121.every((f) => f.filename.startsWith("torch-2.5.1+cu121-")));
    assert.equal(selectFiles(p, { ...base, versions: ">=2.5,<2.6" }).selected.length, 112);
  });

  test("free-threaded, ~=, ==X.*, globs and build tags", () => {
    assert.equal(selectFiles(p, { ...base, versions: "~=2.7.0", python: ["cp313t"] }).selected.length, 30);
    assert.equal(
      selectFiles(p, { ...base, versions: "==2.*", platforms: ["win_*"], python: ["cp310"] }).selected.length,
      82,
    );
    const mac = selectFiles(p, { ...base, platforms: ["macosx_*_arm64"] }).selected;
    assert.equal(mac.length, 146);
    // 2.10.0's cp310-cp313 macOS wheels come three times: no build tag, build 1 and build 2; all are kept.
    const v2100 = mac.map((f) => f.filename).filter((n) => n.startsWith("torch-2.10.0-"));
    assert.equal(v2100.length, 15);
    assert.equal(v2100.filter((n) => n.startsWith("torch-2.10.0-1-")).length, 4);
    assert.equal(v2100.filter((n) => n.startsWith("torch-2.10.0-2-")).length, 4);
  });

  test("the 2.7.1-2.9.0 selection", () => {
    const sel = torchPage("torch_2.7.1-2.9.0_selected.csv");
    const linux = selectFiles(sel, {
      ...base,
      versions: ">=2.8",
      platforms: ["manylinux*_x86_64", "linux_x86_64"],
      python: ["cp311", "cp312"],
      keepLatest: 3,
    }).selected.map((f) => f.filename);
    // Page order, not version order; both releases >=2.8 in every variant.
    assert.ok(linux.length > 0);
    assert.ok(
      linux.every((f) => /^torch-2\.(8|9)\.0\+/.test(f)),
      linux.join(" "),
    );
    assert.ok(linux.includes("torch-2.8.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"));
    assert.ok(linux.includes("torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"));
    assert.deepEqual(
      selectFiles(sel, { ...base, keepLatest: 2 }).selected,
      sel.files.filter((f) => /^torch-2\.(8|9)\.0[+-]/.test(f.filename)),
    );
    assert.equal(
      selectFiles(sel, {
        ...base,
        versions: "!=2.8.*",
        platforms: ["manylinux_2_28_aarch64"],
        python: ["cp313"],
      }).selected.length,
      8,
    );
  });
});
