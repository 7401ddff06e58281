import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import type { FileRecord, ProjectRecord } from "../store/state-store.js";
import { renderLandingPage, renderProjectPage, summarizeMirror } from "./browse-pages.js";
import type { PypiMirrorConfig } from "./config-schema.js";

const config = parseConfigText(
  `mirrors:\n  pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu121, whl/cpu], description: "<script>x</script>" }\n`,
  "t",
).mirrors[0] as PypiMirrorConfig;

const project = (name: string, displayName = name): ProjectRecord => ({
  name,
  displayName,
  upstreamSerial: null,
  upstreamTimestamp: null,
  upstreamEtag: null,
});

const file = (idx: string, filename: string, size: number): FileRecord => ({
  path: `${idx}/${filename}`,
  project: filename.split("-")[0] as string,
  filename,
  upstreamUrl: `https://download.pytorch.org/${idx}/${filename}`,
  sha256: "a".repeat(64),
  size,
  hashSource: "index",
  requiresPython: ">=3.9",
  yanked: null,
  uploadTime: "2026-11-25T22:59:09Z",
  metadataSha256: null,
  metadataSize: null,
  metadataSource: null,
});

const snapshots = [
  {
    idx: "whl/cu121",
    publishedAt: Date.UTC(2026, 10, 25, 23, 0),
    projects: [project("torch"), project("filelock")],
    files: [
      file("whl/cu121", "torch-2.6.0+cu121-cp312-cp312-linux_x86_64.whl", 100),
      file("whl/cu121", "torch-2.10.0+cu121-cp312-cp312-linux_x86_64.whl", 300),
      file("whl/cu121", "filelock-3.13.1-py3-none-any.whl", 10),
    ],
  },
  {
    idx: "whl/cpu",
    publishedAt: Date.UTC(2026, 10, 25, 23, 0),
    projects: [project("torch")],
    files: [file("whl/cpu", "torch-2.6.0+cpu-cp312-cp312-linux_x86_64.whl", 50)],
  },
];

test("the summary: versions by PEP 440 (2.10.0 after 2.6.0), variants folded into one version, sizes summed", () => {
  const s = summarizeMirror(snapshots);
  assert.deepEqual(
    s.projects.map((p) => [p.name, p.versions, p.files, p.bytes, p.indexes]),
    [
      ["filelock", ["3.13.1"], 1, 10, ["whl/cu121"]],
      ["torch", ["2.10.0", "2.6.0"], 3, 450, ["whl/cu121", "whl/cpu"]],
    ],
  );
  assert.deepEqual(
    s.indexes.map((i) => [i.idx, i.projects, i.files, i.bytes]),
    [
      ["whl/cu121", 2, 3, 410],
      ["whl/cpu", 1, 1, 50],
    ],
  );
});

test("the landing and project pages escape what they show and link to pip's paths", () => {
  const now = Date.UTC(2026, 10, 26, 2, 0);
  const landing = renderLandingPage(
    config,
    summarizeMirror(snapshots),
    { state: "success", lastSuccessAt: now - 3 * 3_600_000, lastError: "<b>boom</b>" },
    { siteName: "S", publicUrl: "http://m.example", now, filter: '"><x>' },
  );
  assert.ok(!landing.includes("<script>x"), "the description is escaped");
  assert.ok(!landing.includes("<b>boom"));
  assert.ok(!landing.includes('"><x>'), "the filter echoed back is escaped");
  assert.match(landing, /2026-11-25 23:00 UTC/);
  assert.match(landing, /3 h ago/);
  const page = renderProjectPage(
    config,
    "torch",
    snapshots
      .filter((s) => s.projects.some((p) => p.name === "torch"))
      .map((s) => ({
        idx: s.idx,
        record: project("torch", "Torch"),
        files: s.files.filter((f) => f.project === "torch"),
      })),
    { siteName: "S", publicUrl: "http://m.example", now },
  );
  assert.deepEqual(
    [...page.matchAll(/<h2 id="v-([^"]+)"/g)].map((m) => m[1]),
    ["2.10.0", "2.6.0"],
    "newest first",
  );
  assert.ok(page.includes('href="/pytorch/whl/cu121/torch-2.6.0%2Bcu121-cp312-cp312-linux_x86_64.whl"'));
  assert.ok(page.includes('href="/pytorch/whl/cpu/torch/"'));
  assert.match(page, /<code>cu121<\/code>/);
  assert.match(page, /2026-11-25 22:59 UTC/);
});
