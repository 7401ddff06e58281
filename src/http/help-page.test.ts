import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import type { PypiMirrorConfig as MirrorConfig } from "../pypi/config-schema.js";
import {
  pipInstallCommand,
  pytorchVariant,
  renderHelpPage,
  trustedHost,
  VERIFY_SNIPPET,
} from "./help-page.js";

function mirror(yaml: string): MirrorConfig {
  return parseConfigText(`mirrors:\n  ${yaml}\n`, "t").mirrors[0] as MirrorConfig;
}

test("the pip command: the primary index under public_url, --trusted-host only for plain http off this machine", () => {
  const pypi = mirror("pypi: { type: pypi, upstream: https://pypi.org, mode: proxy }");
  assert.equal(
    pipInstallCommand("https://mirrors.example.edu", pypi),
    "pip install -i https://mirrors.example.edu/pypi/simple numpy",
  );
  assert.equal(
    pipInstallCommand("http://mirror.lan:8080", pypi),
    "pip install -i http://mirror.lan:8080/pypi/simple --trusted-host mirror.lan numpy",
  );
  assert.equal(
    pipInstallCommand("http://127.0.0.1:8080", pypi),
    "pip install -i http://127.0.0.1:8080/pypi/simple numpy",
  );
  assert.equal(trustedHost("http://localhost:8080"), undefined);
  const torch = mirror(
    "pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu128, whl/cpu] }",
  );
  assert.equal(
    pipInstallCommand("https://m.example", torch),
    "pip install -i https://m.example/pytorch/whl/cu128 torch",
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
  assert.equal(pytorchVariant("simple"), undefined);
});

test("the help page escapes what it shows and carries every section", () => {
  const m = mirror(
    'pytorch: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu121], description: "<b>wheels</b>" }',
  );
  const html = renderHelpPage(m, { publicUrl: "https://m.example", siteName: "S", ociMirrors: [] });
  assert.ok(html.includes("&#60;b&#62;wheels&#60;/b&#62;"));
  assert.ok(!html.includes("<b>wheels"));
  for (const id of [
    "pip-install",
    "pip-config",
    "pip-conf",
    "uv-toml",
    "uv-env",
    "poetry",
    "variants",
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
