import assert from "node:assert/strict";
import { test } from "node:test";
import { FreshmirrorError } from "../errors.js";
import {
  OCI_ERROR_STATUS,
  OciError,
  ociErrorResponse,
  parseOciErrorBody,
  parseRetryAfter,
} from "./registry-errors.js";

test("each spec code has its HTTP status", () => {
  const expected: Record<string, number> = {
    NAME_UNKNOWN: 404,
    MANIFEST_UNKNOWN: 404,
    BLOB_UNKNOWN: 404,
    NAME_INVALID: 400,
    TAG_INVALID: 400,
    DIGEST_INVALID: 400,
    MANIFEST_INVALID: 400,
    UNSUPPORTED: 405,
    UNAUTHORIZED: 401,
    DENIED: 403,
    TOOMANYREQUESTS: 429,
    RANGE_INVALID: 416,
    SIZE_INVALID: 400,
  };
  for (const [code, status] of Object.entries(expected))
    assert.equal(OCI_ERROR_STATUS[code as keyof typeof OCI_ERROR_STATUS], status, code);
});

test("an OciError is a FreshmirrorError served as the spec's JSON body, with Retry-After when it has one", () => {
  const e = new OciError("TOOMANYREQUESTS", "slow down", { retryAfterSeconds: 12.2, detail: { host: "x" } });
  assert.ok(e instanceof FreshmirrorError);
  assert.equal(e.code, "FM_ERR_OCI_TOOMANYREQUESTS");
  const res = ociErrorResponse(e);
  assert.equal(res.status, 429);
  assert.equal(res.headers["retry-after"], "13");
  assert.deepEqual(JSON.parse(res.body.toString()), {
    errors: [{ code: "TOOMANYREQUESTS", message: "slow down", detail: { host: "x" } }],
  });
  const plain = ociErrorResponse(new OciError("MANIFEST_UNKNOWN", "no such manifest"));
  assert.equal(plain.status, 404);
  assert.equal(plain.headers["retry-after"], undefined);
  assert.deepEqual(JSON.parse(plain.body.toString()), {
    errors: [{ code: "MANIFEST_UNKNOWN", message: "no such manifest" }],
  });
  assert.equal(new OciError("MANIFEST_INVALID", "bad upstream", { status: 502 }).status, 502);
});

test("upstream error bodies are read when they are the spec's shape and ignored otherwise", () => {
  assert.deepEqual(
    parseOciErrorBody(
      '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}',
    ),
    {
      code: "NAME_UNKNOWN",
      message: "repository name not known to registry",
    },
  );
  assert.equal(parseOciErrorBody("<html>502</html>"), undefined);
  assert.equal(parseOciErrorBody('{"errors":[{"code":"MADE_UP"}]}'), undefined);
  assert.equal(parseOciErrorBody('{"errors":"x"}'), undefined);
  assert.equal(
    parseOciErrorBody(`{"errors":[{"code":"DENIED","message":"${"x".repeat(5000)}"}]}`)?.message.length,
    200,
  );
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfter("30"), 30);
  assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 1)).toUTCString(), Date.UTC(2030, 0, 1)), 60);
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter("-5"), undefined);
});
