#!/usr/bin/env bash
# Build and deploy tools in .local/tools (git-ignored): cargo-lambda, zig, SAM CLI, cfn-lint.
#
#   scripts/tools.sh install [all]   # idempotent; also adds the aarch64 Rust target
#   scripts/tools.sh install lambda  # cargo-lambda only: what the local run (replay.sh) needs
#   scripts/tools.sh path            # prints the PATH entry: export PATH="$(scripts/tools.sh path):$PATH"
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/tools"

requirements="$root/scripts/requirements-tools.txt"

# The pinned cargo-lambda line of requirements-tools.txt (one pin for both sets).
lambda_pin() {
  grep -E '^cargo-lambda==' "$requirements"
}

install_all() {
  local want stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/cargo-lambda" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "installing cargo-lambda, zig, SAM CLI and cfn-lint into .local/tools ..." >&2
    mkdir -p "$root/.local"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
  fi
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
}

# cargo-lambda alone (it carries its own binary): the local run builds and runs natively, so
# it needs neither zig, SAM CLI, cfn-lint nor the aarch64 target. The full set's stamp stays
# as it is, so a later `install all` still installs the rest.
install_lambda() {
  local pin stamp="$venv/.cargo-lambda.pin"
  pin="$(lambda_pin)"
  if [[ -x "$venv/bin/cargo-lambda" && ( "$(cat "$stamp" 2>/dev/null)" == "$pin" ||
        "$(cat "$venv/.requirements.sha256" 2>/dev/null)" == "$(sha256sum "$requirements" | cut -d' ' -f1)" ) ]]; then
    return 0
  fi
  echo "installing $pin into .local/tools ..." >&2
  mkdir -p "$root/.local"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin"
  echo "$pin" > "$stamp"
}

case "${1:-}" in
  install)
    case "${2:-all}" in
      all) install_all ;;
      lambda) install_lambda ;;
      *) echo "usage: $0 install [all|lambda]" >&2; exit 2 ;;
    esac ;;
  path) echo "$venv/bin" ;;
  *) echo "usage: $0 install [all|lambda] | path" >&2; exit 2 ;;
esac
