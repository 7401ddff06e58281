import assert from "node:assert/strict";
import { test } from "node:test";
import { redactText, redactUrl } from "./redact-url.js";

test("redactUrl drops userinfo and masks secret query values, keeping the rest", () => {
  assert.equal(redactUrl("https://user:s3cret@example.org:8443/simple/"), "https://example.org:8443/simple/");
  assert.equal(redactUrl("https://token@example.org/simple/"), "https://example.org/simple/");
  assert.equal(redactUrl("https://u:p%40ss@word@example.org/x"), "https://example.org/x");
  assert.equal(
    redactUrl("https://cdn.example.org/f.whl?X-Amz-Signature=abc&X-Amz-Expires=60&token=t0k"),
    "https://cdn.example.org/f.whl?X-Amz-Signature=***&X-Amz-Expires=60&token=***",
  );
  assert.equal(redactUrl("https://example.org/simple/torch/"), "https://example.org/simple/torch/");
  // Where registries redirect blob GETs: Docker Hub's storage host signs with `verify`.
  assert.equal(
    redactUrl(
      "https://production.cloudflare.docker.com/registry-v2/blobs/data?verify=1700000000-AbC&X-Signature=s",
    ),
    "https://production.cloudflare.docker.com/registry-v2/blobs/data?verify=***&X-Signature=***",
  );
});

test("redactText masks every URL inside a message and leaves other text alone", () => {
  assert.equal(
    redactText('upstream answered HTTP 401 for http://me:pw@127.0.0.1:8080/simple/ and "https://a:b@x.org"'),
    'upstream answered HTTP 401 for http://127.0.0.1:8080/simple/ and "https://x.org"',
  );
  assert.equal(redactText("mail root@example.org, a=b"), "mail root@example.org, a=b");
});
