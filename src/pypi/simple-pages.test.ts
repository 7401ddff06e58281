import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { parseProjectPageHtml } from "./simple-index-html.js";
import { parseProjectPageJson } from "./simple-index-json.js";
import { renderProjectPageHtml, renderProjectPageJson, type ServedFile } from "./simple-pages.js";

const served = (filename: string, extra: Partial<ServedFile>): ServedFile => ({
  path: `simple/demo/${filename}`,
  filename,
  sha256: null,
  size: 3,
  requiresPython: null,
  yanked: null,
  uploadTime: null,
  metadataSha256: null,
  ...extra,
});

test("a page gives each file's sha256, else the other digest upstream listed, and our parsers read them back", () => {
  const sha256 = createHash("sha256").update("a").digest("hex");
  const sha512 = createHash("sha512").update("b").digest("hex");
  const files = [
    served("demo-1.0-py3-none-any.whl", { sha256, otherHash: `md5=${"0".repeat(32)}` }),
    served("demo-1.1-py3-none-any.whl", { otherHash: `sha512=${sha512}` }),
    served("demo-1.2-py3-none-any.whl", { otherHash: "sha512=not-a-digest" }),
    served("demo-1.3-py3-none-any.whl", {}),
  ];
  const url = "http://mirror.example/m/simple/demo/";
  const html = parseProjectPageHtml(
    renderProjectPageHtml({ displayName: "demo" }, files, ["simple", "demo"]),
    url,
    "demo",
  );
  const json = parseProjectPageJson(
    renderProjectPageJson({ name: "demo" }, files, ["simple", "demo"]),
    url,
    "demo",
  );
  for (const page of [html, json])
    assert.deepEqual(
      page.files.map((f) => f.hashes),
      [{ sha256 }, { sha512 }, {}, {}],
      "sha256 first; a malformed other digest is not passed on",
    );
});
