import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { realWorldFixture } from "../../test/helpers/repo-root.js";
import { MalformedPageError } from "../errors.js";
import {
  parseSimpleIndex,
  parseSimpleProjectList,
  SIMPLE_INDEX_ACCEPT,
  simpleIndexFormat,
} from "./simple-index-content-type.js";
import { parseProjectPageHtml } from "./simple-index-html.js";
import { parseProjectListJson, parseProjectPageJson } from "./simple-index-json.js";

function fixture(...parts: string[]): string {
  return readFileSync(realWorldFixture(...parts), "utf8");
}

function isMalformed(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof MalformedPageError, `expected MalformedPageError, got ${String(error)}`);
    assert.equal(error.code, "FM_ERR_UPSTREAM_MALFORMED_PAGE");
    assert.match(error.message, pattern);
    return true;
  };
}

const ARGSET_URL = "https://pypi.org/simple/argset/";

describe("parseProjectPageJson on real PEP 691 pages", () => {
  it("reads PEP 700 size, upload-time and versions, and meta (pypi-simple argset-700.json)", () => {
    const page = parseProjectPageJson(
      fixture("pep691-json", "pypi-simple", "argset-700.json"),
      ARGSET_URL,
      "argset",
    );
    assert.deepEqual(page, {
      name: "argset",
      files: [
        {
          filename: "argset-0.1.0-py3-none-any.whl",
          url: "https://files.pythonhosted.org/packages/b5/2b/7aa284f345e37f955d86e4cd57b1039b573552b0fc29d1a522ec05c1ee41/argset-0.1.0-py3-none-any.whl",
          hashes: { sha256: "107a632c7112faceb9fd6e93658dd461154713db250f7ffde5bd473e17cf1db5" },
          requiresPython: "~=3.6",
          yanked: false,
          coreMetadata: false,
          size: 5219,
          uploadTime: "2021-06-05T00:15:37.534150Z",
        },
        {
          filename: "argset-0.1.0.tar.gz",
          url: "https://files.pythonhosted.org/packages/d0/ee/1c25e68d029e8daaf3228dababbf3261fa5d9569f6f705867b2ad4df9b6d/argset-0.1.0.tar.gz",
          hashes: { sha256: "8a41ee4789d37517c259984c11f2aa3639a90dc8fa446ff905ecc5fe6623c12d" },
          requiresPython: "~=3.6",
          yanked: false,
          coreMetadata: false,
          size: 6565,
          uploadTime: "2021-06-05T00:15:39.003726Z",
        },
      ],
      versions: ["0.1.0"],
      meta: { apiVersion: "1.0", lastSerial: 10562871 },
    });
  });

  it("reads yanked true as yanked without a reason and a string as the reason (yanked.json)", () => {
    const page = parseProjectPageJson(
      fixture("pep691-json", "pypi-simple", "yanked.json"),
      "https://pypi.org/simple/yanked/",
      "yanked",
    );
    assert.deepEqual(
      page.files.map((f) => [f.filename, f.yanked, f.requiresPython]),
      [
        ["yanked-0.0.0-py3-none-any.whl", "", undefined],
        ["yanked-0.0.0.tar.gz", "not good", undefined],
      ],
    );
    assert.deepEqual(page.meta, { apiVersion: "1.0" });
    assert.equal(page.versions, undefined);
  });

  it("resolves relative file URLs against the page URL (argset-relative.json)", () => {
    const page = parseProjectPageJson(
      fixture("pep691-json", "pypi-simple", "argset-relative.json"),
      "https://test.nil/simple/argset/",
      "argset",
    );
    assert.deepEqual(
      page.files.map((f) => f.url),
      [
        "https://test.nil/simple/argset/packages/argset-0.1.0-py3-none-any.whl",
        "https://test.nil/simple/argset/packages/argset-0.1.0.tar.gz",
      ],
    );
  });

  it("reads the warehouse docs' beautifulsoup4 page: core-metadata dicts, null requires-python, api 1.4", () => {
    const page = parseProjectPageJson(
      fixture("pep691-json", "warehouse-docs", "pypi_simple_beautifulsoup4.json"),
      "https://pypi.org/simple/beautifulsoup4/",
      "BeautifulSoup4",
    );
    assert.equal(page.name, "beautifulsoup4", "the page's name wins over the requested one");
    assert.equal(page.files.length, 6);
    assert.deepEqual(page.meta, { apiVersion: "1.4", lastSerial: 22406780 });
    assert.deepEqual(page.versions, ["4.0.1", "4.0.2", "4.12.3", "4.13.0b2"]);
    const [oldest] = page.files;
    assert.equal(oldest?.requiresPython, undefined);
    assert.equal(oldest?.size, 51024);
    const wheel = page.files.find((f) => f.filename === "beautifulsoup4-4.12.3-py3-none-any.whl");
    assert.deepEqual(wheel?.coreMetadata, {
      sha256: "524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e",
    });
    assert.equal(wheel?.uploadTime, "2024-01-17T16:53:12.779164Z");
  });

  it("agrees with the HTML form of the same warehouse page on every file both list", () => {
    const json = parseProjectPageJson(
      fixture("pep691-json", "warehouse-docs", "pypi_simple_beautifulsoup4.json"),
      "https://pypi.org/simple/beautifulsoup4/",
      "beautifulsoup4",
    );
    const html = parseProjectPageHtml(
      fixture("pep503-html", "warehouse-docs", "pypi_simple_beautifulsoup4.html"),
      "https://pypi.org/simple/beautifulsoup4/",
      "beautifulsoup4",
    );
    assert.equal(html.files.length, 4);
    for (const htmlFile of html.files) {
      const jsonFile = json.files.find((f) => f.filename === htmlFile.filename);
      assert.ok(jsonFile, htmlFile.filename);
      const { size: _size, uploadTime: _uploadTime, ...comparable } = jsonFile;
      assert.deepEqual(comparable, htmlFile);
    }
  });

  it("reads PEP 658's dist-info-metadata when core-metadata is absent, and core-metadata false", () => {
    const isort = parseProjectPageJson(
      fixture("pep691-json", "poetry-legacy", "isort-metadata.json"),
      "https://pypi.org/simple/isort-metadata/",
      "isort-metadata",
    );
    assert.deepEqual(isort.files[0]?.coreMetadata, {
      sha256: "e360bf0ed8a06390513d50dd5b7e9d635c789853a93b84163f9de4ae0647580c",
    });
    assert.equal(isort.meta.lastSerial, 3575149);
    const absolute = parseProjectPageJson(
      fixture("pep691-json", "poetry-legacy", "absolute.json"),
      "https://pypi.org/simple/poetry/",
      "poetry",
    );
    assert.ok(absolute.files.every((f) => f.coreMetadata === false));
    const demo = parseProjectPageJson(
      fixture("pep691-json", "poetry-legacy", "demo.json"),
      "https://pypi.org/simple/demo/",
      "demo",
    );
    assert.deepEqual(demo.files[0]?.hashes, {}, "a file without hashes");
  });

  it("accepts api-version 1.2 pages with PEP 708 fields it does not use (argset-708.json)", () => {
    const page = parseProjectPageJson(
      fixture("pep691-json", "pypi-simple", "argset-708.json"),
      ARGSET_URL,
      "argset",
    );
    assert.equal(page.meta.apiVersion, "1.2");
    assert.equal(page.files.length, 2);
  });

  it("falls back to the requested name when the page has none", () => {
    const body = JSON.stringify({ meta: { "api-version": "1.1" }, files: [] });
    assert.deepEqual(parseProjectPageJson(body, ARGSET_URL, "argset"), {
      name: "argset",
      files: [],
      meta: { apiVersion: "1.1" },
    });
  });
});

describe("parseProjectPageJson field handling", () => {
  const base = { filename: "x-1.0.tar.gz", url: "x-1.0.tar.gz" };
  const page = (file: Record<string, unknown>, meta: Record<string, unknown> = { "api-version": "1.0" }) =>
    JSON.stringify({ meta, name: "x", files: [file] });

  it("prefers core-metadata over dist-info-metadata and reads true as offered without a hash", () => {
    const sha = "c".repeat(64);
    const read = (file: Record<string, unknown>) =>
      parseProjectPageJson(page({ ...base, ...file }), ARGSET_URL, "x").files[0]?.coreMetadata;
    assert.deepEqual(
      read({ "core-metadata": { sha256: sha }, "dist-info-metadata": { sha256: "d".repeat(64) } }),
      {
        sha256: sha,
      },
    );
    assert.deepEqual(read({ "core-metadata": false, "dist-info-metadata": true }), false);
    assert.deepEqual(read({ "dist-info-metadata": true }), {});
    assert.deepEqual(read({ "data-dist-info-metadata": { sha256: sha } }), { sha256: sha });
    assert.deepEqual(read({}), false);
  });

  it("lower-cases hash names and values, and merges a #fragment hash into hashes", () => {
    const sha = "e".repeat(64);
    const [file] = parseProjectPageJson(
      page({ ...base, url: `https://h.test/x-1.0.tar.gz#sha256=${sha}`, hashes: { MD5: "ABCDEF" } }),
      ARGSET_URL,
      "x",
    ).files;
    assert.deepEqual(file?.hashes, { md5: "abcdef", sha256: sha });
    assert.equal(file?.url, "https://h.test/x-1.0.tar.gz");
  });

  it("skips files whose URL is not http(s)", () => {
    const body = JSON.stringify({
      meta: { "api-version": "1.0" },
      files: [
        { filename: "a-1.whl", url: "file:///etc/passwd" },
        { filename: "b-1.whl", url: "https://h.test/b-1.whl" },
      ],
    });
    assert.deepEqual(
      parseProjectPageJson(body, ARGSET_URL, "x").files.map((f) => f.filename),
      ["b-1.whl"],
    );
  });

  it("names the field and the file index when a value has the wrong type", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...base, size: "5219" }, /files\[0\]\.size: expected a non-negative integer, got string/],
      [{ ...base, size: -1 }, /files\[0\]\.size/],
      [{ ...base, size: 1.5 }, /files\[0\]\.size/],
      [{ ...base, "upload-time": 1622852137 }, /files\[0\]\.upload-time: expected a string, got number/],
      [
        { ...base, "upload-time": "yesterday" },
        /files\[0\]\.upload-time: "yesterday" is not an ISO 8601 time/,
      ],
      [{ ...base, yanked: 1 }, /files\[0\]\.yanked: expected a boolean or a string, got number/],
      [{ ...base, hashes: { sha256: 42 } }, /files\[0\]\.hashes\.sha256: expected a string, got number/],
      [{ ...base, hashes: { sha256: "zz" } }, /files\[0\]\.hashes\.sha256: not a hex digest/],
      [{ ...base, hashes: ["sha256"] }, /files\[0\]\.hashes: expected an object, got array/],
      [{ ...base, "requires-python": 3 }, /files\[0\]\.requires-python: expected a string, got number/],
      [{ ...base, "core-metadata": "true" }, /files\[0\]\.core-metadata: expected a boolean or an object/],
      [{ url: "x-1.0.tar.gz" }, /files\[0\]\.filename: missing/],
      [{ filename: "x-1.0.tar.gz" }, /files\[0\]\.url: missing/],
      [{ ...base, url: null }, /files\[0\]\.url: expected a string, got null/],
      [{ ...base, url: "http://[::1" }, /files\[0\]\.url: not a URL/],
      [{ ...base, filename: "../../etc/passwd" }, /files\[0\]\.filename: .* is not a plain file name/],
    ];
    for (const [file, pattern] of cases) {
      assert.throws(
        () => parseProjectPageJson(page(file), ARGSET_URL, "x"),
        isMalformed(pattern),
        String(pattern),
      );
    }
    const second = JSON.stringify({ meta: { "api-version": "1.0" }, files: [base, { ...base, size: "1" }] });
    assert.throws(() => parseProjectPageJson(second, ARGSET_URL, "x"), isMalformed(/files\[1\]\.size/));
  });

  it("rejects invalid, truncated and non-object JSON, a missing files array and api-version 2.x", () => {
    const real = fixture("pep691-json", "pypi-simple", "argset-700.json");
    const cases: [string, RegExp][] = [
      ["", /invalid JSON/],
      ["<!DOCTYPE html><html></html>", /invalid JSON/],
      [real.slice(0, real.length / 2), /invalid JSON/],
      ["[]", /top level: expected an object, got array/],
      ["null", /top level: expected an object, got null/],
      [JSON.stringify({ meta: { "api-version": "1.0" } }), /files: missing/],
      [JSON.stringify({ meta: { "api-version": "1.0" }, files: {} }), /files: expected an array, got object/],
      [JSON.stringify({ meta: { "api-version": "2.0" }, files: [] }), /api-version 2\.0 is not supported/],
      [
        JSON.stringify({ meta: { "api-version": 1 }, files: [] }),
        /meta\.api-version: expected a string, got number/,
      ],
      [JSON.stringify({ meta: { "api-version": "one" }, files: [] }), /"one" is not a version/],
      [
        JSON.stringify({ meta: { "_last-serial": "12" }, files: [] }),
        /meta\._last-serial: expected a non-negative integer/,
      ],
      [JSON.stringify({ meta: [], files: [] }), /meta: expected an object, got array/],
      [JSON.stringify({ name: 7, files: [] }), /name: expected a string, got number/],
      [JSON.stringify({ files: [], versions: ["1", 2] }), /versions\[1\]: expected a string, got number/],
      [JSON.stringify({ files: ["x-1.whl"] }), /files\[0\]: expected an object, got string/],
    ];
    for (const [body, pattern] of cases) {
      assert.throws(() => parseProjectPageJson(body, ARGSET_URL, "x"), isMalformed(pattern), String(pattern));
    }
  });

  it("tolerates a UTF-8 byte order mark", () => {
    const body = `\ufeff${JSON.stringify({ meta: { "api-version": "1.0" }, files: [] })}`;
    assert.deepEqual(parseProjectPageJson(body, ARGSET_URL, "x").files, []);
  });
});

describe("parseProjectListJson", () => {
  it("reads the warehouse docs' root list", () => {
    assert.deepEqual(
      parseProjectListJson(
        fixture("pep691-json", "warehouse-docs", "pypi_simple_root.json"),
        "https://pypi.org/simple/",
      ),
      { projects: ["0", "0-._.-._.-._.-._.-._.-._.-0"], meta: { apiVersion: "1.4", lastSerial: 24888689 } },
    );
  });

  it("rejects a list without projects or with a nameless project", () => {
    assert.throws(
      () =>
        parseProjectListJson(JSON.stringify({ meta: { "api-version": "1.0" } }), "https://pypi.org/simple/"),
      isMalformed(/projects: missing/),
    );
    assert.throws(
      () =>
        parseProjectListJson(
          JSON.stringify({ projects: [{ name: "a" }, { "_last-serial": 3 }] }),
          "https://pypi.org/simple/",
        ),
      isMalformed(/projects\[1\]\.name: expected a string, got undefined/),
    );
  });
});

describe("parseSimpleIndex content-type dispatch", () => {
  const json = fixture("pep691-json", "warehouse-docs", "pypi_simple_beautifulsoup4.json");
  const html = fixture("pep503-html", "warehouse-docs", "pypi_simple_beautifulsoup4.html");
  const url = "https://pypi.org/simple/beautifulsoup4/";

  it("sends the Accept header that prefers PEP 691 JSON", () => {
    assert.equal(
      SIMPLE_INDEX_ACCEPT,
      "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
    );
  });

  it("picks the parser by media type, ignoring parameters and case", () => {
    assert.equal(simpleIndexFormat(json, "application/vnd.pypi.simple.v1+json", url), "json");
    assert.equal(
      simpleIndexFormat(json, "Application/VND.pypi.simple.latest+JSON; charset=utf-8", url),
      "json",
    );
    assert.equal(simpleIndexFormat(html, "application/vnd.pypi.simple.v1+html", url), "html");
    assert.equal(simpleIndexFormat(html, "text/html; charset=utf-8", url), "html");
    assert.equal(simpleIndexFormat(html, undefined, url), "html");
    assert.equal(simpleIndexFormat(json, "application/json", url), "json");
    assert.equal(simpleIndexFormat(html, "application/json", url), "html");
    assert.equal(simpleIndexFormat(html, "binary/octet-stream", url), "html");
    assert.throws(
      () => simpleIndexFormat(json, "application/vnd.pypi.simple.v2+json", url),
      isMalformed(/v2/),
    );
  });

  it("parses both forms of the warehouse page to the same files", () => {
    const fromJson = parseSimpleIndex(json, "application/vnd.pypi.simple.v1+json", url, "beautifulsoup4");
    const fromHtml = parseSimpleIndex(html, "application/vnd.pypi.simple.v1+html", url, "beautifulsoup4");
    assert.equal(fromJson.files.length, 6);
    assert.equal(fromHtml.files.length, 4);
    assert.deepEqual(fromJson.meta, fromHtml.meta);
  });

  it("reports a JSON body sent as text/html as malformed rather than as an empty project", () => {
    assert.throws(() => parseSimpleIndex(json, "text/html", url, "beautifulsoup4"), isMalformed(/JSON/));
  });

  it("dispatches project lists the same way", () => {
    const rootJson = fixture("pep691-json", "warehouse-docs", "pypi_simple_root.json");
    const rootHtml = fixture("pep503-html", "warehouse-docs", "pypi_simple_root.html");
    const a = parseSimpleProjectList(
      rootJson,
      "application/vnd.pypi.simple.v1+json",
      "https://pypi.org/simple/",
    );
    const b = parseSimpleProjectList(rootHtml, "text/html", "https://pypi.org/simple/");
    assert.deepEqual(a.projects, b.projects);
  });
});
