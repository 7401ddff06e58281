// The fetcher's abandonment rules against the fixture upstream (real HTTP, real store): an
// on-demand download whose clients all left stops after the grace; one a sync waits for never does.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type PypiUpstream, startPypiUpstream } from "../../test/fixtures/pypi-upstream.js";
import { FsBlobStore as BlobStore } from "../store/fs/fs-blob-store.js";
import { StateStore } from "../store/state-store.js";
import { UpstreamClient } from "../upstream/http-client.js";
import { BlobFetcher } from "./blob-fetcher.js";

const GRACE_MS = 300;

describe("blob fetcher: abandon_grace", () => {
  let upstream: PypiUpstream;
  let dir: string;
  let store: BlobStore;
  let state: StateStore;
  let client: UpstreamClient;
  let fetcher: BlobFetcher;

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    dir = mkdtempSync(join(tmpdir(), "fm-fetcher-"));
    store = new BlobStore(dir);
    await store.init();
    state = new StateStore(join(dir, "state.sqlite"));
    const host = new URL(upstream.url).host;
    client = new UpstreamClient({
      allowedHosts: [host],
      timeoutMs: 10_000,
      retries: 0,
      backoffMs: 10,
      maxFails: 100,
      failTimeoutMs: 1000,
    });
    fetcher = new BlobFetcher(store, state, client, {
      retries: 0,
      backoffMs: 10,
      fillTimeoutMs: 60_000,
      abandonGraceMs: GRACE_MS,
    });
  });

  after(async () => {
    await client.close();
    state.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tempFiles = () =>
    readdirSync(join(dir, "tmp"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());

  async function slowFile(project: string) {
    const file = await upstream.publish({
      index: "simple",
      project,
      version: "1.0.0",
      payloadBytes: 2 << 20,
    });
    upstream.fault({ match: file.filename, kind: "slowBody", bytesPerSecond: 512 * 1024 });
    return file;
  }

  test("the last client leaving starts the grace; then the download is aborted and its temp file deleted", async () => {
    const file = await slowFile("leaver");
    const download = fetcher.fetch({
      url: file.url,
      filename: file.filename,
      sha256: file.sha256,
      origin: "fetch",
    });
    const first = download.attachClient();
    const second = download.attachClient();
    while (!download.responded) await download.nextChange();
    first();
    first(); // releasing twice counts once
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    assert.equal(download.state, "running", "one client is still there");
    const left = performance.now();
    second();
    await assert.rejects(download.done, (error: Error & { code?: string }) => {
      assert.equal(error.code, "FM_ERR_FETCH_ABANDONED");
      return true;
    });
    assert.ok(performance.now() - left >= GRACE_MS - 20, "not before the grace");
    assert.deepEqual(tempFiles(), []);
    assert.ok(!(await store.has(file.sha256)));
    assert.equal(fetcher.inFlight({ url: file.url, sha256: file.sha256 }), undefined);
  });

  test("a sync joining an on-demand download pins it: the clients leave, it completes", async () => {
    const file = await slowFile("pinned");
    const request = { url: file.url, filename: file.filename, sha256: file.sha256 };
    const download = fetcher.fetch({ ...request, origin: "fetch" });
    const release = download.attachClient();
    const joined = fetcher.fetch({ ...request, origin: "sync" });
    assert.equal(joined, download, "the sync joins the same download");
    release();
    const blob = await download.done;
    assert.equal(blob.sha256, file.sha256);
    assert.ok(await store.has(file.sha256));
  });
});
