import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hasInnerDotSegments } from "./href-dot-segments.js";
import { parseProjectPageHtml } from "./simple-index-html.js";
import { parseProjectPageJson } from "./simple-index-json.js";

describe("hasInnerDotSegments", () => {
  it("allows the leading ../ of relative links (PyPI, devpi, mmcv pages) and plain links", () => {
    for (const href of [
      "torch-2.5.1%2Bcu121-cp311-cp311-linux_x86_64.whl#sha256=ab",
      "../../packages/ab/cd/numpy-2.0.0.tar.gz",
      "./demo-1.0-py3-none-any.whl",
      "/whl/cu121/torch-2.5.1-cp311-cp311-linux_x86_64.whl",
      "https://files.pythonhosted.org/packages/ab/cd/x.whl?a=../b#../c",
      "demo..1.0.whl",
    ]) {
      assert.equal(hasInnerDotSegments(href), false, href);
    }
  });

  it("flags dot segments in absolute and root-relative links, and after a name in relative ones", () => {
    for (const href of [
      "/whl/cu121/../../etc/passwd.whl",
      "/whl/%2e%2e/%2E%2E/etc/x.whl",
      "/whl/./x.whl",
      "http://host/a/../b.whl",
      "//host/a/../b.whl",
      "packages/../../x.whl",
      "..\\..\\x.whl/../y.whl",
      "/whl\\..\\x.whl",
    ]) {
      assert.equal(hasInnerDotSegments(href), true, href);
    }
  });
});

describe("parsers record dot-segment hrefs", () => {
  const pageUrl = "https://idx.test/whl/cu121/demo/";

  it("HTML: keeps the href as written (without its fragment) beside the resolved URL", () => {
    const page = parseProjectPageHtml(
      '<a href="/whl/cu121/../../etc/demo-1.0-py3-none-any.whl#sha256=aa">x</a><a href="../demo-2.0-py3-none-any.whl">y</a>',
      pageUrl,
      "demo",
    );
    assert.equal(page.files[0]?.url, "https://idx.test/etc/demo-1.0-py3-none-any.whl");
    assert.equal(page.files[0]?.dotSegmentHref, "/whl/cu121/../../etc/demo-1.0-py3-none-any.whl");
    assert.ok(!("dotSegmentHref" in (page.files[1] ?? {})));
  });

  it("JSON: the same for `url`", () => {
    const page = parseProjectPageJson(
      JSON.stringify({
        meta: { "api-version": "1.1" },
        name: "demo",
        files: [
          { filename: "demo-1.0-py3-none-any.whl", url: "/x/../demo-1.0-py3-none-any.whl", hashes: {} },
        ],
      }),
      pageUrl,
      "demo",
    );
    assert.equal(page.files[0]?.dotSegmentHref, "/x/../demo-1.0-py3-none-any.whl");
  });
});

describe("parseProjectPageHtml refuses to call a broken page empty", () => {
  const pageUrl = "https://idx.test/simple/demo/";

  it("a page that ends inside a tag and has no links", () => {
    assert.throws(
      () =>
        parseProjectPageHtml(
          '<!DOCTYPE html><html><body>\n<a href="/whl/\u0000<<<a href=>>',
          pageUrl,
          "demo",
        ),
      /malformed index page at https:\/\/idx\.test\/simple\/demo\/: no links, and the page ends inside an unfinished tag/,
    );
  });

  it("a page whose every link is unreadable", () => {
    assert.throws(
      () =>
        parseProjectPageHtml(
          '<html><body><a href="javascript:void(0)">a</a><a href="/f/%00.whl">b</a></body></html>',
          pageUrl,
          "demo",
        ),
      /none of its links is a file link that can be read \(first: href "javascript:void\(0\)"\)/,
    );
  });

  it("but a page with only directory links is an empty project", () => {
    assert.deepEqual(
      parseProjectPageHtml('<html><body><a href="../">../</a></body></html>', pageUrl, "demo").files,
      [],
    );
  });
});
