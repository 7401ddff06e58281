import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { format } from "node:util";
import { App } from "../app/app.js";
import { parseConfigText } from "../app/load-config.js";
import { internalErrorLog, startServer } from "./server.js";

test("bad percent-escapes in a mirror name or an API path are 400 FM_ERR_HTTP_BAD_PATH, not 500", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "fm-badpath-"));
  const config = parseConfigText(
    `data_dir: ${dataDir}\nmirrors:\n  m: { type: pypi, upstream: "http://127.0.0.1:9", mode: proxy }\n`,
    "test",
  );
  const app = await App.open(config);
  const server = await startServer(app, "127.0.0.1", 0);
  t.after(async () => {
    await server.close();
    await app.close();
  });
  for (const path of ["/%ff/", "/%ff", "/%s%ff/simple/", "/api/v1/mirrors/%ff", "/api/v1/mirrors/%E0%A4%A"]) {
    const res = await fetch(`${server.url}${path}`, { headers: { accept: "application/json" } });
    assert.equal(res.status, 400, path);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "FM_ERR_HTTP_BAD_PATH", path);
    assert.match(body.error.message, /bad percent-encoding/);
  }
});

test("an unexpected error is logged with a fixed format: a %s in the URL does not swallow the error", () => {
  const error = new Error("disk on fire");
  const line = format(...(internalErrorLog("GET", "/pypi/%s%o%d/", error) as [string, ...unknown[]]));
  assert.match(line, /^freshmirror: GET \/pypi\/%s%o%d\/:/);
  assert.match(line, /Error: disk on fire\n\s+at /, "the error keeps its stack");
});
