// The embedded default: with no config file, freshmirror is a pull-through cache of PyPI,
// download.pytorch.org (served under /pypi and /pytorch) and Docker Hub (under /v2/, Docker's
// registry-mirrors). Kept as YAML so that
// `freshmirror config check` shows operators exactly what to start from.
export const DEFAULT_CONFIG_YAML = `# freshmirror embedded default config
listen: 0.0.0.0:8080
data_dir: ./data
mirrors:
  pypi:
    type: pypi
    description: PyPI, fetched on demand
    upstream: https://pypi.org
    indexes: [simple]
    mode: proxy
    allow_hosts: [files.pythonhosted.org]
  pytorch:
    type: pypi
    description: PyTorch wheels (download.pytorch.org), fetched on demand
    upstream: https://download.pytorch.org
    # Every variant PyTorch publishes, the day it appears (whl/cu132, whl/nightly/rocm7.0, ...).
    indexes: [whl, "whl/*", "whl/nightly/*"]
    mode: proxy
    allow_hosts: [download-r2.pytorch.org, pypi.nvidia.com, files.pythonhosted.org]
  dockerhub:
    type: oci
    description: Docker Hub images (pytorch/pytorch, nvidia/cuda, ...), fetched on demand
    upstream: https://registry-1.docker.io
`;
