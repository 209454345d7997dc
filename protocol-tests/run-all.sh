#!/usr/bin/env bash
# The whole test suite, in one command (CI runs this via .ci/run).
#
#   bash protocol-tests/run-all.sh [extra pytest args]
#
# 1. installs what is missing, idempotently: kcat (apt), a venv at
#    protocol-tests/.venv from requirements.txt, protocol-tests/node/node_modules
#    via `npm ci` (re-installed only when the pins change), a JDK (apt) and the
#    Apache Kafka Java client jars in protocol-tests/java/lib (see install_java);
#    STRAIT_INSTALL_ONLY=1 stops after this step;
# 2. cargo fmt --check, clippy -D warnings, cargo test, cargo build --bins;
# 3. pytest over protocol-tests against target/debug/strait (last output line is
#    pytest's summary).
# Stops at the first failing step with that step's exit status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PT="$ROOT/protocol-tests"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

SUITE_START=$SECONDS
STEP_NO=0
STEPS_TOTAL=7

header() {
    STEP_NO=$((STEP_NO + 1))
    printf '\n==================== [%d/%d] %s ====================\n' "$STEP_NO" "$STEPS_TOTAL" "$1"
}

# run <name> <cmd...>: header, run, report time; on failure say which step and exit.
run() {
    local name="$1"; shift
    header "$name"
    local t0=$SECONDS rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\nrun-all: step "%s" FAILED (exit %d) after %ds\n' "$name" "$rc" $((SECONDS - t0))
        exit "$rc"
    fi
    printf -- '-- %s: ok (%ds)\n' "$name" $((SECONDS - t0))
}

sha() { sha256sum "$@" | sha256sum | cut -c1-16; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "need root (or sudo) for: $*" >&2; return 1
    fi
}

install_kcat() {
    # kcat, and Go with Debian's sarama sources for the sarama smoke test (builds offline).
    local want=()
    command -v kcat >/dev/null || want+=(kcat)
    command -v go >/dev/null || want+=(golang-go)
    [ -d /usr/share/gocode/src/github.com/Shopify/sarama ] || want+=(golang-github-shopify-sarama-dev)
    if [ ${#want[@]} -eq 0 ]; then
        echo "kcat, go and sarama present"
        return 0
    fi
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${want[@]}"
    command -v kcat && command -v go
}

install_venv() {
    local venv="$PT/.venv" want have=""
    want="$(sha "$PT/requirements.txt")-$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    [ -f "$venv/.installed" ] && have="$(cat "$venv/.installed")"
    if [ -x "$venv/bin/python" ] && [ "$have" = "$want" ] && "$venv/bin/python" -c 'import pytest, confluent_kafka, kafka' 2>/dev/null; then
        echo "venv up to date ($venv)"
        return 0
    fi
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$PT/requirements.txt"
    echo "$want" > "$venv/.installed"
    "$venv/bin/python" -m pip freeze | sed 's/^/  /'
}

install_node() {
    local nd="$PT/node" want have=""
    command -v node >/dev/null || { echo "node is not installed (need Node 20 + npm)" >&2; return 1; }
    want="$(sha "$nd/package.json" "$nd/package-lock.json")-$(node --version)"
    [ -f "$nd/node_modules/.installed" ] && have="$(cat "$nd/node_modules/.installed")"
    if [ "$have" = "$want" ]; then
        echo "node_modules up to date ($nd)"
        return 0
    fi
    (cd "$nd" && npm ci --no-audit --no-fund)
    echo "$want" > "$nd/node_modules/.installed"
}

# The Apache Kafka Java client (kafka-clients 3.9.1 and its compression libraries) for
# the Java tests (java_client.py, java/StraitDriver.java). Maven is unreachable here, so
# the jars come from a PyPI wheel that redistributes Flink's Kafka connector libraries
# (shared/reference/peers.md); their SHA-256 sums are pinned in java/jars.sha256. The wheel
# (~92 MB) is deleted once the five jars are extracted into java/lib (gitignored).
JAVA_WHEEL="shigawire-apache-flink-libraries==2.0.0.post1"
JAVA_JARS=(kafka-clients.jar slf4j-api.jar lz4-java.jar snappy-java.jar zstd-jni.jar)

install_java() {
    local lib="$PT/java/lib" want have="" tmp
    if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
        as_root apt-get update -q
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless
    fi
    want="$JAVA_WHEEL-$(sha "$PT/java/jars.sha256")"
    [ -f "$lib/.installed" ] && have="$(cat "$lib/.installed")"
    if [ "$have" = "$want" ] && (cd "$lib" && sha256sum --quiet -c "$PT/java/jars.sha256"); then
        echo "java client jars up to date ($lib); $(javac -version 2>&1)"
        return 0
    fi
    tmp="$(mktemp -d)"
    "$PT/.venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$JAVA_WHEEL"
    rm -rf "$lib" && mkdir -p "$lib"
    "$PT/.venv/bin/python" - "$tmp" "$lib" "${JAVA_JARS[@]}" <<'PY'
import glob, sys, zipfile
src, lib, jars = sys.argv[1], sys.argv[2], sys.argv[3:]
(whl,) = glob.glob(f"{src}/*.whl")
with zipfile.ZipFile(whl) as z:
    for j in jars:
        with open(f"{lib}/{j}", "wb") as f:
            f.write(z.read(f"pyflink/lib/{j}"))
PY
    rm -rf "$tmp"
    (cd "$lib" && sha256sum -c "$PT/java/jars.sha256")
    unzip -p "$lib/kafka-clients.jar" kafka/kafka-version.properties 2>/dev/null | grep '^version=' || true
    echo "$want" > "$lib/.installed"
}

install_all() {
    local t
    t=$SECONDS; install_kcat; echo "   kcat: $((SECONDS - t))s"
    t=$SECONDS; install_venv; echo "   python venv: $((SECONDS - t))s"
    t=$SECONDS; install_node; echo "   npm: $((SECONDS - t))s"
    t=$SECONDS; install_java; echo "   java: $((SECONDS - t))s"
}

run "install test clients (kcat, go+sarama, python venv, npm, java)" install_all
if [ -n "${STRAIT_INSTALL_ONLY:-}" ]; then
    echo "STRAIT_INSTALL_ONLY is set: stopping after the install step"
    exit 0
fi
run "cargo fmt --check" cargo fmt --all -- --check
run "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
run "cargo test" cargo test --workspace
run "cargo build --bins (strait, cluster-links, mirrors)" cargo build --bins

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export STRAIT_BIN="${STRAIT_BIN:-$TARGET_DIR/debug/strait}"
# Under run-all a missing client is an install failure, never a skip.
export STRAIT_REQUIRE_ALL_CLIENTS=1
header "versions"
echo "strait:  $STRAIT_BIN"
echo "kcat:    $(kcat -V 2>&1 | grep -m1 -o 'librdkafka [^ ]*' || true) (Debian build)"
echo "python:  $("$PT/.venv/bin/python" --version)"
echo "node:    $(node --version)"
echo "java:    $(java -version 2>&1 | head -1); kafka-clients $(unzip -p "$PT/java/lib/kafka-clients.jar" kafka/kafka-version.properties 2>/dev/null | sed -n 's/^version=//p')"
echo "elapsed before pytest: $((SECONDS - SUITE_START))s"

header "pytest protocol-tests (real clients vs strait)"
cd "$PT"
exec "$PT/.venv/bin/python" -m pytest "$@"
