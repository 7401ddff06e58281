import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { realWorldFixture } from "../../test/helpers/repo-root.js";
import { parseDistributionFilename } from "./distribution-filename.js";

/** The fixture CSVs are plain (no quoting), CRLF-terminated. */
function readCsv(...parts: string[]): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(realWorldFixture(...parts), "utf8")
    .split(/\r?\n/)
    .filter((l) => l !== "");
  const columns = (header ?? "").split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""]));
  });
}

describe("parseDistributionFilename: wheels", () => {
  test("reads name, version and the three tags", () => {
    assert.deepEqual(parseDistributionFilename("torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl"), {
      kind: "wheel",
      project: "torch",
      version: "2.5.1+cu121",
      pythonTags: ["cp311"],
      abiTags: ["cp311"],
      platformTags: ["linux_x86_64"],
    });
  });

  test("splits compressed tag sets on dots", () => {
    const parsed = parseDistributionFilename(
      "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    );
    assert.deepEqual(parsed?.platformTags, ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]);
    const pure = parseDistributionFilename("six-1.16.0-py2.py3-none-any.whl");
    assert.deepEqual(pure?.pythonTags, ["py2", "py3"]);
    assert.deepEqual(pure?.abiTags, ["none"]);
    assert.deepEqual(pure?.platformTags, ["any"]);
  });

  test("reads an optional build tag", () => {
    const parsed = parseDistributionFilename("torch-2.10.0-1-cp310-none-macosx_11_0_arm64.whl");
    assert.equal(parsed?.buildTag, "1");
    assert.equal(parsed?.version, "2.10.0");
    assert.deepEqual(parsed?.pythonTags, ["cp310"]);
    assert.deepEqual(parsed?.abiTags, ["none"]);
    assert.deepEqual(parsed?.platformTags, ["macosx_11_0_arm64"]);
    assert.equal(
      parseDistributionFilename("torch-2.10.0-cp310-none-macosx_11_0_arm64.whl")?.buildTag,
      undefined,
    );
    assert.equal(parseDistributionFilename("foo-1.0-12abc-py3-none-any.whl")?.buildTag, "12abc");
  });

  test("normalizes the project name and keeps the version as spelled", () => {
    const parsed = parseDistributionFilename("Nvidia_CUDNN_cu12-9.1.0.70-py3-none-manylinux2014_x86_64.whl");
    assert.equal(parsed?.project, "nvidia-cudnn-cu12");
    assert.equal(parsed?.version, "9.1.0.70");
    assert.equal(parseDistributionFilename("foo-1.0_post1-py3-none-any.whl")?.version, "1.0_post1");
    assert.equal(parseDistributionFilename("foo-1.0-PY3-NONE-ANY.WHL")?.pythonTags[0], "PY3");
  });

  test("returns null for malformed wheel names", () => {
    for (const bad of [
      "foo-py3-none-any.whl",
      "foo-bar-1.0-1-py3-none-any.whl",
      "foo-1.0-1-2-py3-none-any.whl",
      "foo-not.a.version-py3-none-any.whl",
      "foo-1.0-a1-py3-none-any.whl",
      "foo-1.0-py3--any.whl",
      "foo-1.0-py3-none-.whl",
      "foo-1.0-py3..py2-none-any.whl",
      "-1.0-py3-none-any.whl",
      "_foo-1.0-py3-none-any.whl",
      ".whl",
    ]) {
      assert.equal(parseDistributionFilename(bad), null, bad);
    }
  });
});

describe("parseDistributionFilename: sdists", () => {
  test("reads the archive kinds PyPI has accepted", () => {
    for (const ext of [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz"]) {
      assert.deepEqual(parseDistributionFilename(`Foo_Bar-1.0${ext}`), {
        kind: "sdist",
        project: "foo-bar",
        version: "1.0",
        pythonTags: [],
        abiTags: [],
        platformTags: [],
      });
    }
  });

  test("splits at the last dash whose remainder is a version", () => {
    const triton = parseDistributionFilename("pytorch-triton-3.0.0+45fff310c8.tar.gz");
    assert.equal(triton?.project, "pytorch-triton");
    assert.equal(triton?.version, "3.0.0+45fff310c8");
    const named = parseDistributionFilename("django-2fa-helper-1.0rc1.zip");
    assert.equal(named?.project, "django-2fa-helper");
    assert.equal(named?.version, "1.0rc1");
    // Ambiguous on its own: the last dash wins ...
    assert.equal(parseDistributionFilename("foo-1.0-1.tar.gz")?.project, "foo-1-0");
  });

  test("uses the expected project name to settle an ambiguous split", () => {
    const parsed = parseDistributionFilename("foo-1.0-1.tar.gz", "Foo");
    assert.equal(parsed?.project, "foo");
    assert.equal(parsed?.version, "1.0-1");
    // A name that does not fit falls back to the last-dash rule.
    assert.equal(parseDistributionFilename("bar-2.0.tar.gz", "foo")?.project, "bar");
  });

  test("returns null when no split gives a version", () => {
    assert.equal(parseDistributionFilename("foo.tar.gz"), null);
    assert.equal(parseDistributionFilename("foo-bar.tar.gz"), null);
    assert.equal(parseDistributionFilename("foo-1.0-beta-final.zip"), null);
    assert.equal(parseDistributionFilename("-1.0.tar.gz"), null);
  });
});

describe("parseDistributionFilename: not distributions", () => {
  test("returns null for installers, eggs, metadata files and others", () => {
    for (const name of [
      "foo-1.0.win32.exe",
      "foo-1.0-py2.7.egg",
      "foo-1.0.msi",
      "foo-1.0-1.noarch.rpm",
      "foo-1.0.dmg",
      "torch-2.5.1-cp311-cp311-linux_x86_64.whl.metadata",
      "foo-1.0.tar.gz.asc",
      "README.txt",
      "",
    ]) {
      assert.equal(parseDistributionFilename(name), null, name);
    }
  });
});

describe("parseDistributionFilename: real download.pytorch.org file names", () => {
  test("parses all 2855 files of /whl/torch/ and agrees with the listing's own columns", () => {
    const rows = readCsv("torch-wheels", "download.pytorch.org_whl_torch_2026-03-15.csv");
    assert.equal(rows.length, 2855);
    let buildTagged = 0;
    for (const row of rows) {
      const filename = row.filename ?? "";
      const parsed = parseDistributionFilename(filename);
      assert.ok(parsed, filename);
      assert.equal(parsed.kind, "wheel", filename);
      assert.equal(parsed.project, "torch", filename);
      assert.equal(parsed.version, row.version, filename);
      if (parsed.buildTag !== undefined) {
        // The CSV was split naively, so its tag columns are shifted for these rows.
        buildTagged++;
        continue;
      }
      assert.deepEqual(parsed.pythonTags, [row.python_tag], filename);
      assert.deepEqual(parsed.abiTags, [row.abi_tag], filename);
      assert.deepEqual(parsed.platformTags, (row.platform_tag ?? "").split("."), filename);
      // The href is the same name with `+` percent-encoded.
      assert.equal(decodeURIComponent((row.href ?? "").split("/").pop() ?? ""), filename);
    }
    assert.equal(buildTagged, 12);
  });

  test("parses all files of the 2.7.1-2.9.0 selection", () => {
    const rows = readCsv("torch-wheels", "torch_2.7.1-2.9.0_selected.csv");
    assert.equal(rows.length, 133);
    for (const row of rows) {
      const parsed = parseDistributionFilename(row.filename ?? "");
      assert.ok(parsed, row.filename);
      assert.equal(parsed.version, row.version);
      assert.deepEqual(parsed.platformTags, [row.platform_tag]);
    }
  });

  test("parses the percent-encoded wheel names of a uv.lock once decoded", () => {
    const rows = readCsv("torch-wheels", "invokeai_uv_lock_pytorch_wheels.csv");
    assert.ok(rows.length > 0);
    for (const row of rows) {
      const filename = decodeURIComponent(row.url_basename ?? "");
      const parsed = parseDistributionFilename(filename);
      assert.ok(parsed, filename);
      assert.equal(parsed.project, row.name);
      assert.equal(parsed.version, row.version);
    }
  });
});
