#!/bin/sh
# Builds the workstation image for one torch version and pushes it as <version>-<variant>.
# Made to be freshmirror's `release.new` command hook (its output goes into the log of the run
# that found the release); runs by hand just as well:
#
#   ./build.sh 2.7.1            # or 2.7.1+cu126: the local label is the variant
#
# Configured by the environment (the hook's `env:`):
#   REGISTRY        where to push, with the repository: registry.lab.example:5000/lab/pytorch-cuda
#                   (required)
#   TORCH_VARIANT   cu118, cu126, cu128, cpu, ... (default cu126, or the version's +label)
#   MIRROR_URL      freshmirror's public URL, e.g. http://mirror.lab.example:8080; gives the
#                   defaults INDEX_URL=$MIRROR_URL/pytorch/whl/$TORCH_VARIANT and
#                   PYPI_INDEX_URL=$MIRROR_URL/pypi/simple
#   INDEX_URL, PYPI_INDEX_URL   set them to override those
#   BASE_IMAGE      the base, best through freshmirror's OCI mirror
#                   (default: the Containerfile's nvidia/cuda cudnn-runtime tag)
#   BUILDER         docker | buildah | auto (default: docker when a Docker engine answers,
#                   else buildah)
#   TLS_VERIFY      false for plain-http registries (buildah; Docker reads its daemon.json)
#   PUSH            0 to build without pushing
#   DOCKER          the docker CLI to run (default `docker`)
#   EXTRA_BUILD_ARGS  more words for the build command: `--build-arg TORCHVISION_VERSION=...`,
#                   `--build-arg USER_UID=2000`, `--network host`, ...
set -eu

here=$(cd "$(dirname "$0")" && pwd)
say() { printf 'build.sh: %s\n' "$*"; }
die() {
  printf 'build.sh: %s\n' "$*" >&2
  exit 2
}

[ $# -ge 1 ] || die "usage: build.sh <torch version>   (e.g. 2.7.1 or 2.7.1+cu126)"
version=$1
public=${version%%+*}
label=
case "$version" in *+*) label=${version#*+} ;; esac
# A PEP 440 public version; nothing that could turn into a strange tag or argument.
printf '%s' "$public" | grep -Eq '^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$' ||
  die "not a torch version: $version"
variant=${TORCH_VARIANT:-${label:-cu126}}
printf '%s' "$variant" | grep -Eq '^[a-z0-9.]+$' || die "not a variant: $variant"
[ -n "${REGISTRY:-}" ] || die "set REGISTRY to the repository to push to (host[:port]/path/name)"

if [ -n "${MIRROR_URL:-}" ]; then
  : "${INDEX_URL:=${MIRROR_URL%/}/pytorch/whl/$variant}"
  : "${PYPI_INDEX_URL:=${MIRROR_URL%/}/pypi/simple}"
fi
[ -n "${INDEX_URL:-}" ] || die "set MIRROR_URL (or INDEX_URL) to freshmirror's PyTorch index"

docker=${DOCKER:-docker}
builder=${BUILDER:-auto}
if [ "$builder" = auto ]; then
  if command -v "$docker" >/dev/null 2>&1 && "$docker" info >/dev/null 2>&1; then
    builder=docker
  elif command -v buildah >/dev/null 2>&1; then
    builder=buildah
  else
    die "no Docker engine answers and buildah is not installed"
  fi
fi

tag="$public-$variant"
image="$REGISTRY:$tag"
set -- --build-arg "TORCH_VERSION=$public" --build-arg "TORCH_VARIANT=$variant" \
  --build-arg "INDEX_URL=$INDEX_URL"
[ -z "${PYPI_INDEX_URL:-}" ] || set -- "$@" --build-arg "PYPI_INDEX_URL=$PYPI_INDEX_URL"
[ -z "${BASE_IMAGE:-}" ] || set -- "$@" --build-arg "BASE_IMAGE=$BASE_IMAGE"
# shellcheck disable=SC2086 # words, by design
[ -z "${EXTRA_BUILD_ARGS:-}" ] || set -- "$@" $EXTRA_BUILD_ARGS

say "building $image with $builder (torch $public, $variant, from $INDEX_URL${BASE_IMAGE:+, base $BASE_IMAGE})"
started=$(date +%s)
case "$builder" in
docker)
  "$docker" build --pull -f "$here/Containerfile" -t "$image" "$@" "$here"
  if [ "${PUSH:-1}" != 0 ]; then "$docker" push "$image"; fi
  ;;
buildah)
  tls=${TLS_VERIFY:-true}
  # --format docker: the OCI image format has no HEALTHCHECK.
  buildah bud --pull --format docker --tls-verify="$tls" --layers=false \
    -f "$here/Containerfile" -t "$image" "$@" "$here"
  if [ "${PUSH:-1}" != 0 ]; then buildah push --tls-verify="$tls" "$image" "docker://$image"; fi
  ;;
*) die "BUILDER must be docker, buildah or auto, not $builder" ;;
esac
say "done: $image$([ "${PUSH:-1}" != 0 ] && echo ' pushed') in $(($(date +%s) - started)) s"
