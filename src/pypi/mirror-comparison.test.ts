import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareProjectPages, projectPageUrl, versionFilter } from "./mirror-comparison.js";
import type { DistributionFile, ProjectPage } from "./project-page.js";

function file(filename: string, sha256: string, uploadTime?: string): DistributionFile {
  return {
    filename,
    url: `https://files.example/${filename}`,
    hashes: { sha256 },
    yanked: false,
    coreMetadata: false,
    ...(uploadTime === undefined ? {} : { uploadTime }),
  };
}

const page = (files: DistributionFile[]): ProjectPage => ({ name: "torch", files, meta: {} });
const NOW = Date.parse("2026-01-02T00:00:00Z");

describe("compareProjectPages", () => {
  const upstream = page([
    file("torch-2.9.0-cp312-cp312-linux_x86_64.whl", "aa", "2025-12-01T00:00:00Z"),
    file("torch-2.10.0-cp312-cp312-linux_x86_64.whl", "bb", "2026-01-01T00:00:00Z"),
    file("torch-2.10.0-cp313-cp313-linux_x86_64.whl", "cc", "2026-01-01T12:00:00Z"),
    file("torch-2.11.0rc1-cp313-cp313-linux_x86_64.whl", "dd", "2026-01-01T18:00:00Z"),
  ]);

  it("lists missing versions in PEP 440 order, partial ones counted, and since when", () => {
    const mirror = page([
      file("torch-2.9.0-cp312-cp312-linux_x86_64.whl", "aa"),
      file("torch-2.10.0-cp313-cp313-linux_x86_64.whl", "cc"),
    ]);
    const result = compareProjectPages("torch", upstream, mirror, undefined, NOW);
    assert.equal(result.status, "behind");
    assert.deepEqual(
      result.missingVersions.map((v) => [v.version, v.files, v.missing, v.behindSince]),
      [
        ["2.10.0", 2, 1, "2026-01-01T00:00:00.000Z"],
        ["2.11.0rc1", 1, 1, "2026-01-01T18:00:00.000Z"],
      ],
    );
    assert.equal(result.newestUpstream, "2.11.0rc1");
    assert.equal(result.newestOnMirror, "2.9.0", "2.10.0 is there only in part");
    assert.equal(result.behindMs, 24 * 3600 * 1000);
    assert.equal(result.mirrorLacksProject, false);
  });

  it("a file whose sha256 differs is reported; a --version filter narrows what is wanted", () => {
    const mirror = page([file("torch-2.9.0-cp312-cp312-linux_x86_64.whl", "ff")]);
    const filter = versionFilter("2.9.0");
    assert.equal(filter?.spec, "==2.9.0");
    const result = compareProjectPages("torch", upstream, mirror, filter?.set, NOW);
    assert.equal(result.upstreamFiles, 1);
    assert.deepEqual(result.missingFiles, []);
    assert.deepEqual(
      result.differs.map((d) => [d.filename, d.upstreamSha256, d.mirrorSha256]),
      [["torch-2.9.0-cp312-cp312-linux_x86_64.whl", "aa", "ff"]],
    );
    assert.equal(result.status, "behind");
  });

  it("a mirror without the project lacks everything; a bad --version is undefined", () => {
    const result = compareProjectPages("torch", upstream, null, undefined, NOW);
    assert.equal(result.mirrorLacksProject, true);
    assert.equal(result.missingFiles.length, 4);
    assert.equal(versionFilter("=>2.9"), undefined);
    assert.equal(versionFilter(" , "), undefined);
    assert.equal(
      projectPageUrl("https://m.example/simple//", "Foo.Bar_baz"),
      "https://m.example/simple/foo-bar-baz/",
    );
  });
});
