import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import { renderHelpPage } from "../http/help-page.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import {
  pipInstallCommand,
  pypiHelpSnippets,
  pytorchVariant,
  renderPypiHelp,
  sourceName,
  trustedHost,
  VERIFY_SNIPPET,
} from "./help-section.js";

function mirror(yaml: string): PypiMirrorConfig {
  return parseConfigText(`mirrors:\n  ${yaml}\n`, "t").mirrors[0] as PypiMirrorConfig;
}

test("the pip command: the primary index under public_url, --trusted-host only for plain http off this machine", () => {
  const pypi = mirror("pypi: { type: pypi, upstream: https://pypi.org, mode: proxy }");
  assert.equal(
    pipInstallCommand("https://mirrors.example.edu", pypi),
    "pip install --index-url https://mirrors.example.edu/pypi/simple numpy",
  );
  assert.equal(
    pipInstallCommand("http://mirror.lan:8080", pypi),
    "pip install --index-url http://mirror.lan:8080/pypi/simple --trusted-host mirror.lan numpy",
  );
  assert.equal(
    pipInstallCommand("http://127.0.0.1:8080", pypi),
    "pip install --index-url http://127.0.0.1:8080/pypi/simple numpy",
  );
  assert.equal(trustedHost("http://localhost:8080"), undefined);
  const torch = mirror(
    "pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu128, whl/cpu] }",
  );
  assert.equal(
    pipInstallCommand("https://m.example", torch),
    "pip install --index-url https://m.example/pytorch/whl/cu128 torch",
  );
});

test("PyTorch variants are named from their index paths", () => {
  assert.equal(pytorchVariant("whl/cu121"), "CUDA 12.1");
  assert.equal(pytorchVariant("whl/cu118"), "CUDA 11.8");
  assert.equal(pytorchVariant("whl/cu130"), "CUDA 13.0");
  assert.equal(pytorchVariant("whl/cpu"), "CPU only");
  assert.equal(pytorchVariant("whl/rocm6.2"), "ROCm 6.2");
  assert.equal(pytorchVariant("whl/xpu"), "Intel XPU");
  assert.equal(pytorchVariant("whl/nightly/cu128"), "CUDA 12.8 (nightly)");
  assert.equal(pytorchVariant("whl"), "all variants");
  assert.equal(pytorchVariant("whl/*"), undefined, "a pattern is not a URL to give out");
  assert.equal(pytorchVariant("simple"), undefined);
});

test("source names: never `pypi`, which Poetry refuses and pdm takes for PyPI itself", () => {
  assert.equal(sourceName("pypi"), "pypi-mirror");
  assert.equal(sourceName("PyPI"), "PyPI-mirror");
  assert.equal(sourceName("pytorch"), "pytorch");
  assert.equal(sourceName("a.b c"), "a-b-c");
  const s = pypiHelpSnippets(
    mirror("pypi: { type: pypi, upstream: https://pypi.org, mode: proxy }"),
    "http://mirror.lan",
  );
  assert.equal(
    s.poetry1,
    "poetry source add --default pypi-mirror http://mirror.lan/pypi/simple\npoetry add numpy",
  );
  assert.equal(
    s.poetry2,
    "poetry source add --priority=primary pypi-mirror http://mirror.lan/pypi/simple\npoetry add numpy",
  );
  assert.equal(
    s.pdm,
    "pdm config pypi.url http://mirror.lan/pypi/simple\npdm config pypi.verify_ssl false\npdm add numpy",
  );
  assert.equal(s.pytorch, undefined, "no PyTorch section without PyTorch indexes");
});

test("the PyTorch variant snippets pin torch to one index, explicitly", () => {
  const s = pypiHelpSnippets(
    mirror(
      "pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu121, whl/cpu], projects: [torch, torchvision, filelock] }",
    ),
    "https://m.example",
  );
  assert.equal(
    s.pytorch?.uv,
    '[[tool.uv.index]]\nname = "pytorch-cu121"\nurl = "https://m.example/pytorch/whl/cu121"\nexplicit = true\n\n[tool.uv.sources]\ntorch = { index = "pytorch-cu121" }\ntorchvision = { index = "pytorch-cu121" }',
  );
  assert.equal(
    s.pytorch?.poetry2,
    "poetry source add --priority=explicit pytorch-cu121 https://m.example/pytorch/whl/cu121\npoetry add --source pytorch-cu121 torch",
  );
  assert.doesNotMatch(s.pytorch?.poetry1 ?? "", /--priority/, "Poetry 1.3 has no --priority");
  assert.deepEqual(
    s.pytorch?.variants.map((v) => v.label),
    ["CUDA 12.1", "CPU only"],
  );
});

test("the help page escapes what it shows and carries every section", () => {
  const m = mirror(
    'pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu121], description: "<b>wheels</b>" }',
  );
  const ctx = { publicUrl: "https://m.example", siteName: "S", ociMirrors: [] };
  const html = renderHelpPage(m, renderPypiHelp(m, ctx.publicUrl), ctx);
  assert.ok(html.includes("&#60;b&#62;wheels&#60;/b&#62;"));
  assert.ok(!html.includes("<b>wheels"));
  for (const id of [
    "pip-install",
    "pip-config",
    "pip-conf",
    "venv",
    "uv-toml",
    "uv-env",
    "poetry",
    "poetry1",
    "pdm",
    "pdm-toml",
    "variants",
    "uv-pytorch",
    "poetry-pytorch",
    "poetry1-pytorch",
    "daemon-json",
    "hosts-toml",
    "verify",
  ]) {
    assert.ok(html.includes(`id="${id}"`), id);
  }
  assert.ok(html.includes(VERIFY_SNIPPET.replace(/"/g, "&#34;")));
  assert.ok(html.includes("OCI mirroring is not yet available"));
  assert.ok(!/(src|href)="https?:\/\/(?!m\.example|download\.pytorch\.org)/.test(html), "no outside assets");
});
