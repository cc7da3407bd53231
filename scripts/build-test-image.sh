#!/usr/bin/env bash
# Builds the local PostgreSQL image the testcontainers backend uses where Docker Hub is out
# of reach: a minimal Debian rootfs with Debian's own PostgreSQL package, made with
# debootstrap from the Debian mirror apt already uses, imported into Docker. The image is
# the cache: it stays in Docker's image store, and a second run with the same recipe
# returns at once (the recipe's hash is a label on the image).
#
#   scripts/build-test-image.sh [image]      default pgpreflight-local/postgres:15
#
# Environment: PGPREFLIGHT_IMAGE_SUITE (bookworm), PGPREFLIGHT_IMAGE_MAJOR (the image's tag,
# else 15: a major the suite ships, as postgresql-<major>), PGPREFLIGHT_IMAGE_MIRROR (the
# first Debian URI of apt's sources). Needs root, debootstrap and a Docker engine. About
# 90 s on this project's CI machine, most of it debootstrap downloading ~60 packages.
set -euo pipefail

suite="${PGPREFLIGHT_IMAGE_SUITE:-bookworm}"
image="${1:-pgpreflight-local/postgres:${PGPREFLIGHT_IMAGE_MAJOR:-15}}"
# The major: PGPREFLIGHT_IMAGE_MAJOR, else the image's tag when it is a number (…:15), else 15.
tag="${image##*:}"
case "$tag" in *[!0-9]* | '') tag=15 ;; esac
major="${PGPREFLIGHT_IMAGE_MAJOR:-$tag}"
mirror="${PGPREFLIGHT_IMAGE_MIRROR:-$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | awk '{print $2}' || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"

# Bump when the steps below change, so cached images are rebuilt.
recipe="v1 $suite postgresql-$major minbase trimmed"
hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"

if [ "$(docker image inspect --format '{{ index .Config.Labels "pgpreflight.recipe" }}' "$image" 2>/dev/null || true)" = "$hash" ]; then
  echo "== $image is already built (recipe $hash)"
  exit 0
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/pgpreflight-rootfs.XXXXXX")"
trap 'rm -rf "$root"' EXIT
echo "== debootstrap $suite with postgresql-$major from $mirror"
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 20 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"
# The package's own cluster and everything a throwaway server never reads.
rm -rf "$root/var/lib/postgresql/$major/main" "$root/etc/postgresql/$major/main" \
  "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"* "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale"
bindir="/usr/lib/postgresql/$major/bin"
[ -x "$root$bindir/postgres" ] || { echo "no $bindir/postgres in the rootfs" >&2; exit 1; }

echo "== docker import $image"
# The server runs as Debian's postgres user, never as root.
tar -C "$root" -c . | docker import \
  --change "ENV PATH=$bindir:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV LANG=C.UTF-8" \
  --change "USER postgres" \
  --change "LABEL pgpreflight.recipe=$hash" \
  --change "CMD [\"postgres\", \"--version\"]" \
  - "$image" >/dev/null
docker image inspect --format "== $image: {{.Size}} bytes" "$image"
