// Wheels an upstream gets wrong: one whose .dist-info belongs to another project (its METADATA
// must not be published as this wheel's), and one cut short by a short Content-Length and listed
// without a hash (it must not be published at all). A static upstream serves the crafted files.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { syncMirror } from "../../src/sync/run-lifecycle.js";
import { startStaticFileServer } from "../fixtures/static-file-server.js";
import { buildZip } from "../fixtures/zip-writer.js";

const METADATA = Buffer.from("Metadata-Version: 2.1\nName: torch\nVersion: 2.0\n");

function projectPage(filename: string): string {
  return `<!DOCTYPE html><html><body><a href="../../files/${filename}">${filename}</a></body></html>\n`;
}

async function mirrorOf(files: Record<string, Buffer>) {
  const root = mkdtempSync(join(tmpdir(), "fm-wheels-"));
  mkdirSync(join(root, "files"));
  const projects: string[] = [];
  for (const [filename, bytes] of Object.entries(files)) {
    const project = filename.split("-")[0] as string;
    projects.push(project);
    mkdirSync(join(root, "simple", project), { recursive: true });
    writeFileSync(join(root, "simple", project, "index.html"), projectPage(filename));
    writeFileSync(join(root, "files", filename), bytes);
  }
  const upstream = await startStaticFileServer(root);
  const config = parseConfigText(
    `data_dir: ${join(root, "data")}\nmirrors:\n  m: { type: pypi, upstream: "${upstream.url}", projects: [${projects.join(", ")}] }\n`,
    "test",
  );
  const app = await App.open(config);
  return {
    app,
    published: async () => {
      const files = [];
      for (const s of await app.state.snapshots.currentSnapshots("m"))
        files.push(...(await app.state.snapshots.filesOfSnapshot(s.snapshotId)));
      return files;
    },
    close: async () => {
      await app.close();
      await upstream.close();
    },
  };
}

test("a wheel whose .dist-info names another project gets no METADATA, and a coded warning says why", async (t) => {
  const wheel = buildZip([
    { name: "evil/__init__.py", data: Buffer.from("x = 1\n"), compress: true },
    { name: "torch-2.0.dist-info/METADATA", data: METADATA, compress: true },
  ]);
  const m = await mirrorOf({ "evil-1.0-py3-none-any.whl": wheel });
  t.after(() => m.close());
  const report = await syncMirror(m.app, "m");
  assert.equal(report.outcome, "success", report.error);
  const [file] = await m.published();
  assert.equal(file?.filename, "evil-1.0-py3-none-any.whl", "the wheel itself is published");
  assert.equal(file?.metadataSha256, null, "torch's METADATA is not served as evil's");
  assert.ok(
    report.warnings.some((w) =>
      /torch-2\.0\.dist-info does not match the filename's project and version evil-1\.0/.test(w),
    ),
    report.warnings.join("\n"),
  );
});

test("a wheel cut short and listed without a hash is not published; the error names the file", async (t) => {
  const whole = buildZip([
    { name: "short/__init__.py", data: Buffer.alloc(64 * 1024, 7), compress: false },
    { name: "short-1.0.dist-info/METADATA", data: METADATA, compress: true },
  ]);
  // What a client gets when upstream's Content-Length is short: the first part, looking complete.
  const m = await mirrorOf({ "short-1.0-py3-none-any.whl": whole.subarray(0, 40 * 1024) });
  t.after(() => m.close());
  const report = await syncMirror(m.app, "m");
  assert.equal(report.outcome, "failed");
  assert.match(
    report.error ?? "",
    /short-1\.0-py3-none-any\.whl .*is not a valid wheel: no end of central directory/,
  );
  assert.deepEqual(await m.published(), []);
  const blobs = (await m.app.state.blobs.digests()).size;
  assert.equal(blobs, 0, "nothing was stored");
});
