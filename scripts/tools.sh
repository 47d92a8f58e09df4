#!/usr/bin/env bash
# Build and deploy tools in .local/tools (git-ignored): cargo-lambda, zig, SAM CLI, cfn-lint.
#
#   scripts/tools.sh install         # idempotent; also adds the aarch64 Rust target
#   scripts/tools.sh path            # prints the PATH entry: export PATH="$(scripts/tools.sh path):$PATH"
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/tools"

install() {
  local want stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$root/scripts/requirements-tools.txt" | cut -d' ' -f1)"
  if [[ ! -x "$venv/bin/cargo-lambda" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "installing cargo-lambda, zig, SAM CLI and cfn-lint into .local/tools ..." >&2
    mkdir -p "$root/.local"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-tools.txt"
    echo "$want" > "$stamp"
  fi
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
}

case "${1:-}" in
  install) install ;;
  path) echo "$venv/bin" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
