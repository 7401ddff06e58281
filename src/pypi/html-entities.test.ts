import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEntities } from "./html-entities.js";
import { parseProjectPageHtml } from "./simple-index-html.js";

describe("decodeEntities", () => {
  it("decodes every named reference whose value is one ASCII character", () => {
    assert.equal(decodeEntities("&gt;&equals;3.9&comma;&excl;&equals;3.10&ast;"), ">=3.9,!=3.10*");
    assert.equal(
      decodeEntities("torch-2.5.1&plus;cu121&period;whl&num;sha256&equals;ab"),
      "torch-2.5.1+cu121.whl#sha256=ab",
    );
    assert.equal(
      decodeEntities("&lpar;&rpar;&lsqb;&rsqb;&lcub;&rcub;&sol;&bsol;&colon;&semi;&quest;&commat;"),
      "()[]{}/\\:;?@",
    );
    assert.equal(decodeEntities("&Tab;&NewLine;&lowbar;&verbar;&dollar;&percnt;&Hat;&grave;"), "\t\n_|$%^`");
  });

  it("leaves names outside the table, and names that only exist on Object.prototype, as written", () => {
    assert.equal(decodeEntities("&copy; &eacute; &tilde;"), "&copy; &eacute; &tilde;");
    assert.equal(
      decodeEntities("&constructor; &toString; &__proto__;"),
      "&constructor; &toString; &__proto__;",
    );
  });

  it("decodes only the legacy names without a semicolon, and (as in attribute values) not before a letter or digit", () => {
    assert.equal(decodeEntities("&gt 3.9 &amp &nbsp"), "> 3.9 & \u00a0");
    assert.equal(decodeEntities("&gt3.9"), "&gt3.9");
    assert.equal(decodeEntities("&plus &equals"), "&plus &equals");
  });

  it("decodes numeric references, 0x80-0x9F as windows-1252 and invalid code points as U+FFFD (WHATWG)", () => {
    assert.equal(decodeEntities("&#62;&#x3D;&#X33;"), ">=3");
    assert.equal(decodeEntities("&#x80;&#150;&#x9F;"), "\u20ac\u2013\u0178");
    assert.equal(decodeEntities("&#0;&#xD800;&#x110000;"), "\ufffd\ufffd\ufffd");
  });

  it("a page writing its specifiers and file names with other ASCII names is read as meant", () => {
    const page = parseProjectPageHtml(
      `<!DOCTYPE html><html><body>
<a href="/f/torch-2.5.1&plus;cu121-cp311-cp311-linux_x86_64.whl&num;sha256&equals;${"ab".repeat(32)}" data-requires-python="&gt;&equals;3.9&comma;&excl;&equals;3.9.1">x</a>
</body></html>`,
      "https://example.org/simple/torch/",
      "torch",
    );
    const [file] = page.files;
    assert.equal(file?.filename, "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl");
    assert.equal(file?.hashes.sha256, "ab".repeat(32));
    assert.equal(file?.requiresPython, ">=3.9,!=3.9.1");
  });
});
