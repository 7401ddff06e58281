// PEP 691 content negotiation for simple pages, with RFC 9110 §12.5.1 q-values.
// https://peps.python.org/pep-0691/#version-format-selection
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HTML_V1, JSON_V1, negotiateSimpleFormat, TEXT_HTML } from "./accept-negotiation.js";

const PLAIN_HTML = { format: "html", contentType: `${TEXT_HTML}; charset=utf-8` } as const;
const PYPI_HTML = { format: "html", contentType: HTML_V1 } as const;
const PYPI_JSON = { format: "json", contentType: JSON_V1 } as const;

describe("negotiateSimpleFormat", () => {
  test("no Accept header, or an empty one: plain text/html, what old clients always got", () => {
    assert.deepEqual(negotiateSimpleFormat(undefined), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat(""), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat("   "), PLAIN_HTML);
  });

  test("each PEP 691 type, versioned or `latest`, answers in that format", () => {
    assert.deepEqual(negotiateSimpleFormat(JSON_V1), PYPI_JSON);
    assert.deepEqual(negotiateSimpleFormat("application/vnd.pypi.simple.latest+json"), PYPI_JSON);
    assert.deepEqual(negotiateSimpleFormat(HTML_V1), PYPI_HTML);
    assert.deepEqual(negotiateSimpleFormat("application/vnd.pypi.simple.latest+html"), PYPI_HTML);
    assert.deepEqual(negotiateSimpleFormat("text/html"), PLAIN_HTML);
  });

  test("pip's header picks JSON (its highest q)", () => {
    const pip = `${JSON_V1}, ${HTML_V1}; q=0.1, text/html; q=0.01`;
    assert.deepEqual(negotiateSimpleFormat(pip), PYPI_JSON);
  });

  test("the highest q wins whatever the order; a tie goes to HTML, plain first", () => {
    assert.deepEqual(negotiateSimpleFormat(`text/html;q=0.5, ${JSON_V1};q=0.9`), PYPI_JSON);
    assert.deepEqual(negotiateSimpleFormat(`${JSON_V1};q=0.4, text/html;q=0.5`), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat(`${JSON_V1}, ${HTML_V1}`), PYPI_HTML);
    assert.deepEqual(negotiateSimpleFormat(`${JSON_V1}, text/html`), PLAIN_HTML);
  });

  test("wildcards: */* and text/* mean plain HTML, application/* the PEP 691 HTML", () => {
    assert.deepEqual(negotiateSimpleFormat("*/*"), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat("text/*"), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat("application/*"), PYPI_HTML);
  });

  test("the most specific range sets a type's q, not the highest one", () => {
    // JSON named at 0.2 beats nothing, but */* gives plain HTML q=1.
    assert.deepEqual(negotiateSimpleFormat(`*/*, ${JSON_V1};q=0.2`), PLAIN_HTML);
    // application/* at 0.1 is outranked by JSON named at q=1 ... and plain HTML is not acceptable.
    assert.deepEqual(negotiateSimpleFormat(`application/*;q=0.1, ${JSON_V1}`), PYPI_JSON);
    // text/html named at q=0 is refused even though */* would allow it.
    assert.deepEqual(negotiateSimpleFormat("text/html;q=0, */*;q=0.5"), PYPI_HTML);
  });

  test("q=0 refuses a type; nothing acceptable is null (406)", () => {
    assert.equal(negotiateSimpleFormat(`${JSON_V1};q=0`), null);
    assert.equal(negotiateSimpleFormat("*/*;q=0"), null);
    assert.deepEqual(negotiateSimpleFormat(`${JSON_V1};q=0, ${HTML_V1};q=0.001`), PYPI_HTML);
    assert.equal(negotiateSimpleFormat("image/png, application/xml"), null);
  });

  test("types and parameter names are case-insensitive; other parameters are ignored", () => {
    assert.deepEqual(negotiateSimpleFormat("APPLICATION/VND.PYPI.SIMPLE.V1+JSON"), PYPI_JSON);
    assert.deepEqual(negotiateSimpleFormat(`text/html;Q=0.1, ${JSON_V1};Q=0.2`), PYPI_JSON);
    assert.deepEqual(negotiateSimpleFormat("text/html; level=1; charset=utf-8"), PLAIN_HTML);
    assert.deepEqual(negotiateSimpleFormat(` \t${JSON_V1} ; q=0.7 , text/html ; q=0.6`), PYPI_JSON);
  });

  test("malformed headers: a bad q refuses its type, an out-of-range q is clamped, junk matches nothing", () => {
    assert.equal(negotiateSimpleFormat("text/html;q=abc"), null);
    assert.deepEqual(negotiateSimpleFormat(`text/html;q=abc, ${JSON_V1};q=0.3`), PYPI_JSON);
    assert.deepEqual(
      negotiateSimpleFormat(`${JSON_V1};q=7, text/html;q=1`),
      PLAIN_HTML,
      "q=7 is clamped to 1: a tie, which plain HTML wins",
    );
    assert.deepEqual(negotiateSimpleFormat(`${JSON_V1};q=7, text/html;q=0.9`), PYPI_JSON);
    assert.equal(negotiateSimpleFormat(`${JSON_V1};q=-1`), null);
    assert.equal(negotiateSimpleFormat("garbage"), null);
    assert.equal(negotiateSimpleFormat(",,,"), null);
    assert.deepEqual(negotiateSimpleFormat(`,, ${JSON_V1} ,`), PYPI_JSON, "empty list members are skipped");
  });
});
