// One pass of `freshmirror check` over the shared upstream client: what it keeps from the client
// it had before (redirects to another host followed, a page that never answers ends as a timeout).
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  type PypiUpstream,
  publishTorchLike,
  startPypiUpstream,
} from "../../../test/fixtures/pypi-upstream.js";
import { checkMirror, createCheckClient } from "./check-mirror.js";

const INDEX = "whl/cu121";

describe("checkMirror", () => {
  let upstream: PypiUpstream;
  before(async () => {
    upstream = await startPypiUpstream({ indexes: [INDEX] });
    await publishTorchLike(upstream);
  });
  after(async () => {
    await upstream.close();
  });

  test("follows a mirror's redirect to another host (the user named the index; check only reads pages)", async () => {
    const redirector = createServer((req, res) => {
      res.writeHead(302, { location: `${upstream.url}/${INDEX}${req.url ?? "/"}` });
      res.end();
    });
    redirector.listen(0, "127.0.0.1");
    await once(redirector, "listening");
    const other = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    try {
      const report = await checkMirror({
        mirror: other,
        upstream: `${upstream.url}/${INDEX}`,
        projects: ["torch"],
      });
      assert.equal(report.status, "current", JSON.stringify(report.projects[0]?.error));
      assert.ok((report.projects[0]?.upstreamFiles ?? 0) > 0);
    } finally {
      await new Promise((resolve) => redirector.close(resolve));
    }
  });

  test("a mirror that never answers is a transient timeout error, after the client's timeout, not a hang", async () => {
    const hang = upstream.fault({ match: "/hanging/", kind: "hang" });
    const client = createCheckClient(300);
    const started = Date.now();
    try {
      const report = await checkMirror({
        mirror: `${upstream.url}/hanging`,
        upstream: `${upstream.url}/${INDEX}`,
        projects: ["torch"],
        client,
      });
      const error = report.projects[0]?.error;
      assert.equal(report.status, "error");
      assert.equal(error?.code, "FM_ERR_UPSTREAM_TIMEOUT");
      assert.equal(error?.transient, true);
      assert.match(error?.message ?? "", /^mirror: no answer from .*\/hanging\/torch\/ within 300 ms$/);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      hang.remove();
      await client.close();
    }
  });
});
