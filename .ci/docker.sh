# Sourced by .ci/run (bash): a Docker engine and the local PostgreSQL image for the
# testcontainers backend. Also usable alone: `source .ci/docker.sh` in a root shell.
#   1. docker.io and debootstrap from apt when missing (root and apt-get needed);
#   2. dockerd --storage-driver overlay2 when no engine answers (vfs if overlay2 cannot
#      start); pgpreflight_docker_stop stops it again (.ci/run calls it on exit);
#   3. the image, built once by scripts/build-test-image.sh and kept in Docker's image
#      store (a later run with the same recipe reuses it).
# Exports PGPREFLIGHT_TEST_IMAGE (default pgpreflight-local/postgres:15).

pgpreflight_docker_fail() {
  echo "ci: $1. The container part of CI needs root with apt-get, or a running Docker engine and the image $PGPREFLIGHT_TEST_IMAGE; PGPREFLIGHT_CI_CONTAINERS=0 skips it." >&2
  return 1
}

export PGPREFLIGHT_TEST_IMAGE="${PGPREFLIGHT_TEST_IMAGE:-pgpreflight-local/postgres:15}"

PGPREFLIGHT_DOCKERD_PID=""

# Stops the dockerd started here, if any: the run's containers are gone by then (the tests remove them).
pgpreflight_docker_stop() {
  if [ -n "$PGPREFLIGHT_DOCKERD_PID" ]; then
    kill "$PGPREFLIGHT_DOCKERD_PID" 2>/dev/null || true
    wait "$PGPREFLIGHT_DOCKERD_PID" 2>/dev/null || true
    PGPREFLIGHT_DOCKERD_PID=""
  fi
}

pgpreflight_docker_prepare() {
  local missing=()
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  if ! docker image inspect "$PGPREFLIGHT_TEST_IMAGE" >/dev/null 2>&1 && ! command -v debootstrap >/dev/null 2>&1; then missing+=(debootstrap); fi
  if ! timeout 10 docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null 2>&1; then missing+=(docker.io); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || { pgpreflight_docker_fail "missing ${missing[*]}, and this shell cannot apt-get install it"; return 1; }
    echo "== installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || { pgpreflight_docker_fail "apt-get install ${missing[*]} failed"; return 1; }
  fi

  if ! timeout 10 docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { pgpreflight_docker_fail "no Docker engine answers, and only root can start dockerd"; return 1; }
    local log driver
    log="$(mktemp "${TMPDIR:-/tmp}/pgpreflight-dockerd.XXXXXX")"
    for driver in overlay2 vfs; do
      echo "== starting dockerd (--storage-driver $driver, log in $log)"
      dockerd --storage-driver "$driver" >>"$log" 2>&1 &
      PGPREFLIGHT_DOCKERD_PID=$!
      local waited=0
      while ! docker info >/dev/null 2>&1 && kill -0 "$PGPREFLIGHT_DOCKERD_PID" 2>/dev/null && [ "$waited" -lt 60 ]; do
        sleep 1
        waited=$((waited + 1))
      done
      if docker info >/dev/null 2>&1; then break; fi
      kill "$PGPREFLIGHT_DOCKERD_PID" 2>/dev/null || true
      wait "$PGPREFLIGHT_DOCKERD_PID" 2>/dev/null || true
      PGPREFLIGHT_DOCKERD_PID=""
    done
    [ -n "$PGPREFLIGHT_DOCKERD_PID" ] || { tail -n 20 "$log" >&2; pgpreflight_docker_fail "dockerd did not start"; return 1; }
  fi

  case "$PGPREFLIGHT_TEST_IMAGE" in
    pgpreflight-local/*) bash scripts/build-test-image.sh "$PGPREFLIGHT_TEST_IMAGE" ;;
    *) docker image inspect "$PGPREFLIGHT_TEST_IMAGE" >/dev/null 2>&1 || docker pull "$PGPREFLIGHT_TEST_IMAGE" ;;
  esac
}

pgpreflight_docker_prepare
