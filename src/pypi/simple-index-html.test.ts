import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { realWorldFixture } from "../../test/helpers/repo-root.js";
import { MalformedPageError } from "../errors.js";
import type { DistributionFile, ProjectPage } from "./project-page.js";
import { parseProjectListHtml, parseProjectPageHtml } from "./simple-index-html.js";

const PYTORCH_2026 = ["pep503-html", "download.pytorch.org", "2026-03-15_as-committed"];
const PYTORCH_2026_RELATIVE = ["pep503-html", "download.pytorch.org", "2026-03-15_reconstructed"];
const CLOUDFLARE = ["pep503-html", "download.pytorch.org", "2026-01-20_cloudflare-injected"];

function fixture(...parts: string[]): string {
  return readFileSync(realWorldFixture(...parts), "utf8");
}

function byName(page: ProjectPage, filename: string): DistributionFile {
  const file = page.files.find((f) => f.filename === filename);
  assert.ok(file, `no file named ${filename}`);
  return file;
}

function withoutScripts(body: string): string {
  let out = body;
  for (let start = out.indexOf("<script"); start !== -1; start = out.indexOf("<script")) {
    const end = out.indexOf("</script>", start);
    assert.notEqual(end, -1);
    out = out.slice(0, start) + out.slice(end + "</script>".length);
  }
  return out;
}

function isMalformed(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof MalformedPageError, `expected MalformedPageError, got ${String(error)}`);
    assert.equal(error.code, "FM_ERR_UPSTREAM_MALFORMED_PAGE");
    assert.match(error.message, pattern);
    return true;
  };
}

describe("parseProjectPageHtml on download.pytorch.org pages", () => {
  const torchUrl = "https://download.pytorch.org/whl/torch/";

  it("reads all 2855 links of /whl/torch/, 7 rocm6.3 wheels among them without a sha256", () => {
    const page = parseProjectPageHtml(fixture(...PYTORCH_2026, "whl_torch.html"), torchUrl, "torch");
    assert.equal(page.name, "torch");
    assert.equal(page.files.length, 2855);
    const unhashed = page.files.filter((f) => f.hashes.sha256 === undefined);
    assert.equal(unhashed.length, 7);
    for (const file of unhashed) {
      assert.match(file.filename, /^torch-2\.9\.1\+rocm6\.3-/);
      assert.deepEqual(file.hashes, {});
    }
    assert.deepEqual(page.meta, {});
  });

  it("decodes %2B in the local version and keeps the URL as published", () => {
    const page = parseProjectPageHtml(fixture(...PYTORCH_2026, "whl_torch.html"), torchUrl, "torch");
    const file = byName(page, "torch-2.9.1+xpu-cp314-cp314t-win_amd64.whl");
    assert.deepEqual(file, {
      filename: "torch-2.9.1+xpu-cp314-cp314t-win_amd64.whl",
      url: "https://download.pytorch.org/whl/xpu/torch-2.9.1%2Bxpu-cp314-cp314t-win_amd64.whl",
      hashes: { sha256: "4043d8acf1badae0878dfa7f3aac30151229e81ebeda0191727b5541aa7a1c6c" },
      yanked: false,
      coreMetadata: { sha256: "c789fa1dd919b15ac874cad7fe7796f0256679a99c49f6be0b33baef08850c52" },
    });
    assert.equal(
      page.files.filter((f) => f.filename.includes("%")).length,
      0,
      "no filename keeps a percent escape",
    );
    assert.ok(page.files.filter((f) => f.filename.includes("+")).length > 1000);
  });

  it("resolves root-relative /whl/... hrefs to the same files as the absolute form", () => {
    const absolute = parseProjectPageHtml(fixture(...PYTORCH_2026, "whl_torch.html"), torchUrl, "torch");
    const relative = parseProjectPageHtml(
      fixture(...PYTORCH_2026_RELATIVE, "whl_torch.html"),
      torchUrl,
      "torch",
    );
    assert.deepEqual(relative, absolute);
    const cpu = parseProjectPageHtml(
      fixture(...PYTORCH_2026_RELATIVE, "whl_cpu_torch.html"),
      "https://download.pytorch.org/whl/cpu/torch/",
      "torch",
    );
    assert.equal(cpu.files.length, 996);
    assert.ok(cpu.files.every((f) => f.url.startsWith("https://download.pytorch.org/whl/")));
    assert.equal(
      cpu.files.filter((f) => f.url.startsWith("https://download.pytorch.org/whl/cpu/")).length,
      898,
    );
  });

  it("agrees with every row of the hand-extracted torch wheel CSV (filename, href, sha256, metadata sha256)", () => {
    const page = parseProjectPageHtml(fixture(...PYTORCH_2026_RELATIVE, "whl_torch.html"), torchUrl, "torch");
    const [header, ...rows] = fixture("torch-wheels", "download.pytorch.org_whl_torch_2026-03-15.csv")
      .trim()
      .split(/\r?\n/)
      .map((line) => line.split(","));
    assert.deepEqual(header, [
      "filename",
      "version",
      "python_tag",
      "abi_tag",
      "platform_tag",
      "index_variant_dir",
      "href",
      "sha256",
      "core_metadata_sha256",
    ]);
    assert.equal(rows.length, page.files.length);
    rows.forEach((row, i) => {
      const [filename, , , , , , href, sha256, metadataSha256] = row;
      const file = page.files[i];
      assert.ok(file);
      assert.equal(file.filename, filename);
      assert.equal(file.url, `https://download.pytorch.org${href}`);
      assert.deepEqual(file.hashes, sha256 ? { sha256 } : {});
      assert.deepEqual(file.coreMetadata, metadataSha256 ? { sha256: metadataSha256 } : false);
    });
  });

  it("reads the 3 MB nightly page: 8145 cross-host links, none with a file hash, 609 without core metadata", (t) => {
    const body = fixture(...PYTORCH_2026, "whl_nightly_torch.html");
    const pageUrl = "https://download.pytorch.org/whl/nightly/torch/";
    parseProjectPageHtml(body, pageUrl, "torch"); // warm-up
    const started = performance.now();
    const page = parseProjectPageHtml(body, pageUrl, "torch");
    const elapsed = performance.now() - started;
    t.diagnostic(`parsed ${(body.length / 1e6).toFixed(1)} MB nightly page in ${elapsed.toFixed(1)} ms`);

    assert.equal(page.files.length, 8145);
    assert.equal(page.files.filter((f) => Object.keys(f.hashes).length > 0).length, 0);
    assert.equal(page.files.filter((f) => f.coreMetadata === false).length, 609);
    assert.ok(page.files.every((f) => f.url.startsWith("https://download-r2.pytorch.org/whl/nightly/")));
    const first = page.files[0];
    assert.deepEqual(first, {
      filename: "torch-2.11.0.dev20260114+cpu-cp310-cp310-manylinux_2_28_aarch64.whl",
      url: "https://download-r2.pytorch.org/whl/nightly/cpu/torch-2.11.0.dev20260114%2Bcpu-cp310-cp310-manylinux_2_28_aarch64.whl",
      hashes: {},
      yanked: false,
      coreMetadata: { sha256: "240634304d15f073586356b9ee0c17e6be1e51fff8bae5e0dccbbda4ad2f8ac1" },
    });
  });

  it("reads the pypi.org numpy page proxied by pytorch: 3464 links, entities, repository-version and SERIAL", () => {
    const page = parseProjectPageHtml(
      fixture(...PYTORCH_2026, "whl_numpy_pypi-proxied.html"),
      "https://download.pytorch.org/whl/numpy/",
      "numpy",
    );
    assert.equal(page.files.length, 3464);
    assert.ok(page.files.every((f) => /^[0-9a-f]{64}$/.test(f.hashes.sha256 ?? "")));
    assert.ok(page.files.every((f) => f.url.startsWith("https://files.pythonhosted.org/packages/")));
    assert.deepEqual(page.meta, { apiVersion: "1.4", lastSerial: 32761443 });
    assert.ok(
      page.files.every((f) => !f.requiresPython?.includes("&")),
      "every entity is decoded",
    );
    const wheel = byName(page, "numpy-1.21.2-cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64.whl");
    assert.equal(wheel.requiresPython, ">=3.7,<3.11");
    assert.deepEqual(wheel.coreMetadata, {
      sha256: "9aaa532d3013d82f3eed74ceffc6ab844011dfc44a4af9331400ddeaf7246887",
    });
    assert.equal(byName(page, "numpy-2.4.0rc1.tar.gz").requiresPython, ">=3.11");
    assert.equal(byName(page, "numpy-1.3.0.tar.gz").requiresPython, undefined);
  });

  it("keeps the nvidia page's absolute hrefs to pypi.nvidia.com", () => {
    const page = parseProjectPageHtml(
      fixture(...PYTORCH_2026, "whl_nvidia-cudnn-cu12.html"),
      "https://download.pytorch.org/whl/nvidia-cudnn-cu12/",
      "nvidia-cudnn-cu12",
    );
    assert.equal(page.files.length, 87);
    assert.ok(
      page.files.every((f) =>
        f.url.startsWith("https://pypi.nvidia.com/nvidia-cudnn-cu12/nvidia_cudnn_cu12-"),
      ),
    );
    assert.deepEqual(byName(page, "nvidia_cudnn_cu12-8.8.1.3-py3-none-manylinux1_x86_64.whl").hashes, {
      sha256: "785d8dca873520dcc23266924f5d92ab376671a51e3d7a1ab018c1e31dd8c109",
    });
    assert.deepEqual(page.meta, {}, "<meta charset> is not a repository version");
  });

  it("parses a page with an injected Cloudflare <script> exactly as the page without it", () => {
    const body = fixture(...CLOUDFLARE, "whl_cu128_torch.html");
    assert.match(body, /<script>/);
    const pageUrl = "https://download.pytorch.org/whl/cu128/torch/";
    const page = parseProjectPageHtml(body, pageUrl, "torch");
    assert.equal(page.files.length, 188);
    assert.equal(page.files.filter((f) => f.hashes.sha256).length, 167);
    assert.deepEqual(page, parseProjectPageHtml(withoutScripts(body), pageUrl, "torch"));
  });

  it("reads the 2024 cu118 page (absolute hrefs, no metadata attributes)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "download.pytorch.org", "2024-10-08_as-committed", "whl_cu118_torch.html"),
      "https://download.pytorch.org/whl/cu118/torch/",
      "torch",
    );
    assert.equal(page.files.length, 208);
    assert.ok(page.files.every((f) => f.hashes.sha256 && f.coreMetadata === false));
  });

  it("reads the uv#13195 excerpt: 12 hashed links, 6 aarch64 wheels without #sha256", () => {
    const page = parseProjectPageHtml(
      fixture(
        "pep503-html",
        "issue-excerpts",
        "torch-2.7.0+cu128_whl-torch_2025-04-29_missing-aarch64-sha256.fragment.html",
      ),
      "https://download.pytorch.org/whl/torch/",
      "torch",
    );
    assert.equal(page.files.length, 18);
    const unhashed = page.files.filter((f) => f.hashes.sha256 === undefined);
    assert.equal(unhashed.length, 6);
    assert.ok(unhashed.every((f) => f.filename.endsWith("_aarch64.whl")));
    assert.equal(
      unhashed[0]?.url,
      "https://download.pytorch.org/whl/cu128/torch-2.7.0%2Bcu128-cp310-cp310-manylinux_2_28_aarch64.whl",
    );
    assert.ok(page.files.every((f) => f.coreMetadata !== false));
  });
});

describe("parseProjectPageHtml on other real indexes", () => {
  it("reads PEP 592 yank reasons and both escaped and raw '>' in requires-python (poetry black.html)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "black.html"),
      "https://pypi.org/simple/black/",
      "black",
    );
    assert.deepEqual(
      page.files.map((f) => [f.filename, f.requiresPython, f.yanked]),
      [
        ["black-19.10b0-py36-none-any.whl", ">=3.6", false],
        ["black-19.10b0.tar.gz", ">=3.6", false],
        ["black-21.11b0-py3-none-any.whl", ">=3.6.2", "Broken regex dependency. Use 21.11b1 instead."],
        ["black-21.11b0.tar.gz", ">=3.6.2", "Broken regex dependency. Use 21.11b1 instead."],
      ],
    );
    assert.equal(page.meta.lastSerial, 6044498);
  });

  it("reads a bare data-yanked attribute as yanked without a reason (futures-partial-yank.html)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "futures-partial-yank.html"),
      "https://pypi.org/simple/futures/",
      "futures",
    );
    assert.deepEqual(
      page.files.map((f) => [f.filename, f.yanked, f.requiresPython]),
      [
        ["futures-3.2.0-py2-none-any.whl", "", ">=2.6, <3"],
        ["futures-3.2.0.tar.gz", false, ">=2.6, <3"],
      ],
    );
  });

  it("distinguishes data-yanked with a reason, empty, bare and absent (pypi-simple qypi_mixed.html)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "pypi-simple", "qypi_mixed.html"),
      "https://pypi.org/simple/qypi/",
      "qypi",
    );
    assert.deepEqual(
      page.files.map((f) => f.yanked),
      ["Metadata was smelly", "", "", false, false],
    );
  });

  it("reads data-dist-info-metadata on a tag split over two lines (isort-metadata.html)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "isort-metadata.html"),
      "https://pypi.org/simple/isort-metadata/",
      "isort-metadata",
    );
    assert.equal(page.files.length, 1);
    assert.deepEqual(page.files[0]?.coreMetadata, {
      sha256: "e360bf0ed8a06390513d50dd5b7e9d635c789853a93b84163f9de4ae0647580c",
    });
  });

  it("reads the warehouse docs' beautifulsoup4 page, whose <!-- ...More files... --> comment is not a link", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "warehouse-docs", "pypi_simple_beautifulsoup4.html"),
      "https://pypi.org/simple/beautifulsoup4/",
      "beautifulsoup4",
    );
    assert.equal(page.files.length, 4);
    assert.deepEqual(page.meta, { apiVersion: "1.4", lastSerial: 22406780 });
    const wheel = byName(page, "beautifulsoup4-4.13.0b2-py3-none-any.whl");
    assert.equal(wheel.requiresPython, ">=3.6.0");
    assert.deepEqual(wheel.coreMetadata, {
      sha256: "d0aa787c2b55e5b0b3aff66f137cf33341c5e781cb87b4dc184cbb25c7ac0ab5",
    });
    assert.equal(byName(page, "beautifulsoup4-4.13.0b2.tar.gz").coreMetadata, false);
  });

  it("reads md5 fragments as md5 hashes and a link without a fragment as unhashed", () => {
    const ipython = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "ipython.html"),
      "https://pypi.org/simple/ipython/",
      "ipython",
    );
    assert.equal(ipython.files.length, 7);
    assert.deepEqual(byName(ipython, "ipython-5.7.0-py2-none-any.whl").hashes, {
      md5: "20da5e0b1f79dccb37f033a885d798d7",
    });
    assert.deepEqual(byName(ipython, "ipython-5.7.0.tar.gz").hashes, {
      sha256: "4e7fb265e0264498bd0d62c6261936a658bf3d38beb8a7b10cd2c6327c62ac2a",
    });
    const jupyter = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "jupyter.html"),
      "https://pypi.org/simple/jupyter/",
      "jupyter",
    );
    assert.deepEqual(jupyter.files[0]?.hashes, {});
    assert.equal(jupyter.files[0]?.url.includes("#"), false);
  });

  it("resolves the 2019 torch_stable.html's subdirectory hrefs (cpu/, cu92/, ...)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "poetry_torch_stable_2019.html"),
      "https://download.pytorch.org/whl/torch_stable.html",
      "torch",
    );
    assert.equal(page.files.length, 347);
    assert.equal(
      page.files.filter((f) => f.url.startsWith("https://download.pytorch.org/whl/cpu/")).length,
      119,
    );
    assert.equal(
      page.files.filter((f) => f.url.startsWith("https://download.pytorch.org/whl/cu92/")).length,
      45,
    );
    const file = byName(page, "torchvision-0.3.0-cp27-cp27m-linux_x86_64.whl");
    assert.equal(
      file.url,
      "https://download.pytorch.org/whl/cpu/torchvision-0.3.0-cp27-cp27m-linux_x86_64.whl",
    );
    assert.deepEqual(file.hashes, {});
    assert.ok(page.files.every((f) => !f.filename.includes("/")));
  });

  it("resolves ../ hrefs and names files by URL, not by the '../torch1.12.0/...' anchor text (mmcv)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "poetry_mmcv_torch_releases.html"),
      "https://download.openmmlab.com/mmcv/dist/cu116/torch1.13.0/index.html",
      "mmcv",
    );
    assert.equal(page.files.length, 104);
    const file = byName(page, "mmcv-2.0.0-cp310-cp310-manylinux1_x86_64.whl");
    assert.equal(
      file.url,
      "https://download.openmmlab.com/mmcv/dist/cu116/torch1.12.0/mmcv-2.0.0-cp310-cp310-manylinux1_x86_64.whl",
    );
    assert.ok(
      page.files.every((f) =>
        f.url.startsWith("https://download.openmmlab.com/mmcv/dist/cu116/torch1.12.0/"),
      ),
    );
  });

  it("names files by URL when the anchor text disagrees (jax 'nocuda/...', poetry relative.html '.tar.bz')", () => {
    const jax = parseProjectPageHtml(
      fixture("pep503-html", "poetry_jax_releases.html"),
      "https://storage.googleapis.com/jax-releases/jax_releases.html",
      "jaxlib",
    );
    assert.equal(jax.files.length, 21);
    assert.equal(jax.files[0]?.filename, "jaxlib-0.3.0-cp310-none-manylinux2010_x86_64.whl");
    const relative = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "relative.html"),
      "https://example.org/simple/poetry/",
      "poetry",
    );
    assert.deepEqual(
      relative.files.map((f) => [f.filename, f.url]),
      [
        ["poetry-0.1.0-py3-none-any.whl", "https://example.org/simple/poetry/poetry-0.1.0-py3-none-any.whl"],
        ["poetry-0.1.0.tar.gz", "https://example.org/simple/poetry/poetry-0.1.0.tar.gz"],
        ["poetry-0.1.1.tar.bz2", "https://example.org/simple/poetry/poetry-0.1.1.tar.bz2"],
      ],
    );
    const pytest = parseProjectPageHtml(
      fixture("pep503-html", "poetry-legacy", "pytest-with-extra-packages.html"),
      "https://pypi.org/simple/pytest/",
      "pytest",
    );
    assert.deepEqual(
      pytest.files.map((f) => f.filename),
      [
        "pytest-3.5.0-py2.py3-none-any.whl",
        "pytest-3.5.0.tar.gz",
        "futures-3.2.0-py2-none-any.whl",
        "futures-3.2.0-py2-none-any.whl",
        "futures-3.2.0-py2-none-any.whl",
      ],
    );
  });

  it("resolves hrefs against <base href> (pypi-simple qypi_base.html)", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "pypi-simple", "qypi_base.html"),
      "https://test.nil/simple/qypi/",
      "qypi",
    );
    assert.equal(page.files.length, 4);
    assert.equal(
      page.files[0]?.url,
      "https://files.pythonhosted.org/packages/82/fc/9e25534641d7f63be93079bc07fa92bab136ddf5d4181059a1308a346f96/qypi-0.1.0-py3-none-any.whl",
    );
  });

  it("resolves devpi's ../../../ hrefs and ignores its refresh form", () => {
    const page = parseProjectPageHtml(
      fixture("pep503-html", "pypi-simple", "devpi_devpi.html"),
      "https://m.devpi.net/fschulze/dev/+simple/devpi", // devpi's project URLs have no trailing slash
      "devpi",
    );
    assert.deepEqual(
      page.files.map((f) => f.url),
      [
        "https://m.devpi.net/root/pypi/+f/159/5e5f095022ce7/devpi-2.2.0.tar.gz",
        "https://m.devpi.net/root/pypi/+f/453/c95c8472d6645/devpi-2.1.0.tar.gz",
        "https://m.devpi.net/fschulze/dev/+f/197/3b59b5a67362a/devpi-2.0.3.tar.gz",
        "https://m.devpi.net/root/pypi/+f/ed6/87407ee52c7da/devpi-2.0.2.tar.gz",
        "https://m.devpi.net/root/pypi/+f/bc1/475505afa93aa/devpi-2.0.1.tar.gz",
      ],
    );
  });

  it("reads the mousebender archive pages (pypi.org numpy, piwheels relative hrefs, 2020 torch_stable)", () => {
    const counts = [
      ["archive_links.numpy.html", 1402, "https://pypi.org/simple/numpy/"],
      ["archive_links.numpy-piwheels.html", 316, "https://www.piwheels.org/simple/numpy/"],
      ["archive_links.pulpcore-client.html", 370, "https://pypi.org/simple/pulpcore-client/"],
      ["archive_links.pytorch.html", 522, "https://download.pytorch.org/whl/torch_stable.html"],
    ] as const;
    for (const [name, count, pageUrl] of counts) {
      const page = parseProjectPageHtml(fixture("pep503-html", "mousebender", name), pageUrl, "x");
      assert.equal(page.files.length, count, name);
    }
    const piwheels = parseProjectPageHtml(
      fixture("pep503-html", "mousebender", "archive_links.numpy-piwheels.html"),
      "https://www.piwheels.org/simple/numpy/",
      "numpy",
    );
    assert.equal(
      piwheels.files[0]?.url,
      "https://www.piwheels.org/simple/numpy/numpy-1.18.2-cp37-cp37m-linux_armv7l.whl",
    );
  });
});

describe("parseProjectListHtml", () => {
  it("lists the 186 entries of download.pytorch.org/whl/, variant directories included", () => {
    const list = parseProjectListHtml(
      fixture(...PYTORCH_2026, "whl_root.html"),
      "https://download.pytorch.org/whl/",
    );
    assert.equal(list.projects.length, 186);
    assert.equal(list.projects[0], "certifi");
    for (const name of ["torch", "torchvision", "cpu", "cu128", "rocm6.4"])
      assert.ok(list.projects.includes(name), name);
    const cu128 = parseProjectListHtml(
      fixture(...PYTORCH_2026, "whl_cu128_root.html"),
      "https://download.pytorch.org/whl/cu128/",
    );
    assert.equal(cu128.projects.length, 99);
  });

  it("lists the Cloudflare-injected /whl/cpu/ root exactly as without the script", () => {
    const body = fixture(...CLOUDFLARE, "whl_cpu_root.html");
    const list = parseProjectListHtml(body, "https://download.pytorch.org/whl/cpu/");
    assert.equal(list.projects.length, 90);
    assert.deepEqual(
      list,
      parseProjectListHtml(withoutScripts(body), "https://download.pytorch.org/whl/cpu/"),
    );
  });

  it("takes names from the anchor text, not the href (warehouse docs root), and reads repository-version", () => {
    const list = parseProjectListHtml(
      fixture("pep503-html", "warehouse-docs", "pypi_simple_root.html"),
      "https://pypi.org/simple/",
    );
    assert.deepEqual(list, {
      projects: ["0", "0-._.-._.-._.-._.-._.-._.-0"],
      meta: { apiVersion: "1.4" },
    });
  });

  it("reads devpi's list, where anchors follow <h2> headings", () => {
    const devpi = parseProjectListHtml(
      fixture("pep503-html", "pypi-simple", "simple_devpi.html"),
      "https://m.devpi.net/fschulze/dev/+simple/",
    );
    assert.equal(devpi.projects.length, 18);
    assert.deepEqual(devpi.projects.slice(-3), ["0-core-client", "0-orchestrator", "00smalinux"]);
    const pypi = parseProjectListHtml(
      fixture("pep503-html", "pypi-simple", "simple_repo_version.html"),
      "https://pypi.org/simple/",
    );
    assert.deepEqual(pypi.projects, ["a", "a00k5pgrtn", "a10ctl", "a10-horizon", "a10-neutronclient"]);
    assert.equal(pypi.meta.apiVersion, "1.0");
  });

  it("falls back to the href's last segment when the anchor text is empty", () => {
    const list = parseProjectListHtml(
      '<html><body><a href="/simple/foo-bar/"></a></body></html>',
      "https://x.test/simple/",
    );
    assert.deepEqual(list.projects, ["foo-bar"]);
  });
});

describe("parseProjectPageHtml markup variations", () => {
  const pageUrl = "https://idx.test/simple/demo/";
  const sha = "a".repeat(64);

  it("accepts upper-case tags and attributes, any attribute order, single, double and unquoted values", () => {
    const body = [
      "<HTML><BODY>",
      `<A DATA-REQUIRES-PYTHON='&gt;=3.8' HREF='demo-1.0.tar.gz#SHA256=${sha.toUpperCase()}'>demo-1.0.tar.gz</A><BR>`,
      `<a data-yanked=bad href=demo-1.1.tar.gz#sha256=${sha}>demo-1.1.tar.gz</a><br/>`,
      `<a\nhref = "demo-1.2.tar.gz"\n\tdata-core-metadata = true >demo-1.2.tar.gz</a >`,
      "</BODY></HTML>",
    ].join("\n");
    const page = parseProjectPageHtml(body, pageUrl, "demo");
    assert.deepEqual(page.files, [
      {
        filename: "demo-1.0.tar.gz",
        url: "https://idx.test/simple/demo/demo-1.0.tar.gz",
        hashes: { sha256: sha },
        requiresPython: ">=3.8",
        yanked: false,
        coreMetadata: false,
      },
      {
        filename: "demo-1.1.tar.gz",
        url: "https://idx.test/simple/demo/demo-1.1.tar.gz",
        hashes: { sha256: sha },
        yanked: "bad",
        coreMetadata: false,
      },
      {
        filename: "demo-1.2.tar.gz",
        url: "https://idx.test/simple/demo/demo-1.2.tar.gz",
        hashes: {},
        yanked: false,
        coreMetadata: {},
      },
    ]);
  });

  it("decodes named, decimal and hex character references in attributes", () => {
    const body =
      '<a href="d-1.tar.gz?a=1&amp;b=2" data-requires-python="&lt;4,&#62;=3.8,!=3.9.&#x2A;" ' +
      'data-yanked="&quot;broken&quot; &#x27;metadata&#39; &unknown; &amp">d</a>';
    const [file] = parseProjectPageHtml(body, pageUrl, "d").files;
    assert.equal(file?.url, "https://idx.test/simple/demo/d-1.tar.gz?a=1&b=2");
    assert.equal(file?.requiresPython, "<4,>=3.8,!=3.9.*");
    assert.equal(file?.yanked, `"broken" 'metadata' &unknown; &`);
  });

  it("prefers data-core-metadata over data-dist-info-metadata, and reads true/false/absent", () => {
    const body = [
      `<a href="a-1.whl" data-dist-info-metadata="sha256=${"b".repeat(64)}" data-core-metadata="sha256=${sha}">x</a>`,
      `<a href="a-2.whl" data-core-metadata="false" data-dist-info-metadata="true">x</a>`,
      `<a href="a-3.whl" data-dist-info-metadata="true">x</a>`,
      `<a href="a-4.whl" data-core-metadata>x</a>`,
      `<a href="a-5.whl">x</a>`,
    ].join("");
    assert.deepEqual(
      parseProjectPageHtml(body, pageUrl, "a").files.map((f) => f.coreMetadata),
      [{ sha256: sha }, false, {}, {}, false],
    );
  });

  it("reads every hash in the fragment, lower-cased, and ignores non-hash parameters", () => {
    const body = `<a href="x-1.tar.gz#egg=x&md5=ABCDEF0123&sha256=${sha}">x</a>`;
    const [file] = parseProjectPageHtml(body, pageUrl, "x").files;
    assert.deepEqual(file?.hashes, { md5: "abcdef0123", sha256: sha });
    assert.equal(file?.url, "https://idx.test/simple/demo/x-1.tar.gz");
  });

  it("ignores anchors inside <script>, <style>, <title>, <textarea> and comments", () => {
    const body = [
      "<html><head><title>Links for <a href='t-1.whl'>t</a></title>",
      "<style>a::after { content: '<a href=\"s-1.whl\">' }</style></head><body>",
      "<!-- <a href='c-1.whl'>c</a> --><!--><a href='ok-1.whl'>ok</a>",
      "<script type='text/javascript'>document.write('<a href=\"j-1.whl\">j</a>');</SCRIPT >",
      "<textarea><a href='ta-1.whl'></a></textarea>",
      "<a href='ok-2.whl'>ok</a></body></html>",
    ].join("\n");
    assert.deepEqual(
      parseProjectPageHtml(body, pageUrl, "ok").files.map((f) => f.filename),
      ["ok-1.whl", "ok-2.whl"],
    );
  });

  it("reads <!--SERIAL n--> and download.pytorch.org's <!--TIMESTAMP n--> into meta", () => {
    const body = "<!DOCTYPE html><html><body></body></html>\n<!--TIMESTAMP 1773532800-->\n<!--SERIAL 42-->";
    assert.deepEqual(parseProjectPageHtml(body, pageUrl, "x").meta, {
      timestamp: 1773532800,
      lastSerial: 42,
    });
  });

  it("skips anchors without href, with non-http(s) schemes, or whose name would escape a directory", () => {
    const body = [
      '<a name="top">top</a>',
      '<a href="">empty</a>',
      '<a href="javascript:alert(1)">js-1.whl</a>',
      '<a href="mailto:x@y.test">m</a>',
      '<a href="data:text/plain,x">d</a>',
      '<a href="file:///etc/passwd">f</a>',
      '<a href="http://[::1">bad url</a>',
      '<a href="..%2F..%2Fetc%2Fpasswd">traversal</a>',
      '<a href="/files/..%5C..%5Cevil.whl">backslashes</a>',
      '<a href="/files/">../../etc/passwd</a>',
      '<a href="http://plain.test/files/ok-1.whl">ok</a>',
    ].join("<br>");
    const page = parseProjectPageHtml(body, pageUrl, "x");
    assert.deepEqual(
      page.files.map((f) => f.url),
      ["http://plain.test/files/ok-1.whl"],
    );
  });

  it("uses the anchor text as the filename when the URL ends in '/'", () => {
    const [file] = parseProjectPageHtml('<a href="/download/?id=7">pkg-1.0.tar.gz</a>', pageUrl, "pkg").files;
    assert.equal(file?.filename, "pkg-1.0.tar.gz");
    assert.equal(file?.url, "https://idx.test/download/?id=7");
  });

  it("keeps the first value of a repeated attribute, as browsers do", () => {
    const [file] = parseProjectPageHtml('<a href="one-1.whl" href="two-1.whl">x</a>', pageUrl, "x").files;
    assert.equal(file?.filename, "one-1.whl");
  });

  it("treats a page with zero links as an empty project", () => {
    const body =
      "<!DOCTYPE html><html><head><title>Links for error-tools</title></head><body><h1>Links for error-tools</h1></body></html>";
    assert.deepEqual(parseProjectPageHtml(body, pageUrl, "error-tools"), {
      name: "error-tools",
      files: [],
      meta: {},
    });
  });
});

describe("parseProjectPageHtml on malformed input", () => {
  const pageUrl = "https://download.pytorch.org/whl/torch/";

  it("keeps every complete link of a page truncated inside an <a> tag, and drops the unfinished one", () => {
    const body = fixture(...PYTORCH_2026, "whl_torch.html");
    const full = parseProjectPageHtml(body, pageUrl, "torch");
    const tagStart = body.indexOf("<a ", body.length / 2);
    const before = parseProjectPageHtml(body.slice(0, tagStart), pageUrl, "torch").files.length;
    assert.ok(before > 1000 && before < 2855);

    const hrefStart = body.indexOf('href="', tagStart) + 'href="'.length;
    const hrefEnd = body.indexOf('"', hrefStart) + 1;
    const tagEnd = body.indexOf(">", hrefEnd) + 1;
    const cuts = [
      [body.indexOf("#sha256=", hrefStart) + 20, before], // inside the quoted href
      [hrefEnd, before], // href complete, tag still open
      [tagEnd, before + 1], // tag complete, text and </a> missing
    ] as const;
    for (const [cut, expected] of cuts) {
      const truncated = parseProjectPageHtml(body.slice(0, cut), pageUrl, "torch");
      assert.equal(truncated.files.length, expected);
      assert.deepEqual(truncated.files, full.files.slice(0, expected));
    }
  });

  it("recovers the hrefs of download.pytorch.org's 2020 '<a href=/torch-...whl</a>' markup", () => {
    const body =
      "<a href=/torch-1.1.0-cp27-cp27mu-linux_x86_64.whl</a><br>\n" +
      "<a href=/torch-1.2.0%2Bcpu-cp27-cp27m-manylinux1_x86_64.whl</a><br>\n";
    assert.deepEqual(
      parseProjectPageHtml(body, "https://download.pytorch.org/whl/torch_stable.html", "torch").files.map(
        (f) => [f.filename, f.url],
      ),
      [
        [
          "torch-1.1.0-cp27-cp27mu-linux_x86_64.whl",
          "https://download.pytorch.org/torch-1.1.0-cp27-cp27mu-linux_x86_64.whl",
        ],
        [
          "torch-1.2.0+cpu-cp27-cp27m-manylinux1_x86_64.whl",
          "https://download.pytorch.org/torch-1.2.0%2Bcpu-cp27-cp27m-manylinux1_x86_64.whl",
        ],
      ],
    );
  });

  it("rejects a body with no markup, an empty body and a JSON body", () => {
    assert.throws(
      () => parseProjectPageHtml("Service temporarily unavailable", pageUrl, "torch"),
      isMalformed(/no HTML/),
    );
    assert.throws(() => parseProjectPageHtml(" \n", pageUrl, "torch"), isMalformed(/empty body/));
    assert.throws(
      () => parseProjectPageHtml('{"message": "<b>Not Found</b>", "code": 404}', pageUrl, "torch"),
      isMalformed(/JSON/),
    );
  });

  it("rejects S3's XML AccessDenied error (pytorch/pytorch#63098)", () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>' +
      "<RequestId>X</RequestId><HostId>Y</HostId></Error>";
    assert.throws(() => parseProjectPageHtml(body, pageUrl, "torch"), isMalformed(/non-HTML/));
  });

  it("rejects HTML error and challenge pages that have no links", () => {
    const nginx =
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n" +
      "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    assert.throws(() => parseProjectPageHtml(nginx, pageUrl, "torch"), isMalformed(/error page/));
    const server = "<!DOCTYPE html><html><body><p>Internal Server Error</p></body></html>";
    assert.throws(() => parseProjectPageHtml(server, pageUrl, "torch"), isMalformed(/error page/));
    const challenge =
      '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body>' +
      '<noscript>Enable JavaScript</noscript><a rel="noopener" href="https://www.cloudflare.com/">Cloudflare</a></body></html>';
    assert.throws(() => parseProjectPageHtml(challenge, pageUrl, "torch"), isMalformed(/challenge/));
  });

  it("stays linear on pathological markup", () => {
    const inputs = [
      "<".repeat(500_000),
      "<a ".repeat(200_000),
      `<a href=${"x".repeat(1_000_000)}`,
      `<html><a href="${"=".repeat(1_000_000)}`,
      `<html>${"<!-- ".repeat(200_000)}`,
      `<html><script>${"</scrip".repeat(200_000)}`,
      `<html>${"&#x".repeat(300_000)}<a href="x-1.whl" data-yanked="${"&amp".repeat(300_000)}">x</a>`,
    ];
    // CPU time, not wall time: other work on a loaded machine does not count, and quadratic
    // behaviour on inputs this size would take minutes of CPU.
    for (const body of inputs) {
      const started = process.cpuUsage();
      try {
        parseProjectPageHtml(body, pageUrl, "x");
      } catch (error) {
        assert.ok(error instanceof MalformedPageError);
      }
      const used = process.cpuUsage(started);
      const cpuMs = (used.user + used.system) / 1000;
      assert.ok(cpuMs < 2000, `took ${Math.round(cpuMs)} ms of CPU on ${body.slice(0, 20)}...`);
    }
  });
});
