#!/usr/bin/env bash
# Build and deploy tools in .local/tools (git-ignored): cargo-lambda, zig, SAM CLI, cfn-lint,
# and cargo-deny (the supply-chain check of deny.toml).
#
#   scripts/tools.sh install [all]   # idempotent; all of them, and the aarch64 Rust target
#   scripts/tools.sh install base    # all but cargo-deny (CI builds that one in the background)
#   scripts/tools.sh install lambda  # cargo-lambda only: what the local run (replay.sh) needs
#   scripts/tools.sh install deny    # cargo-deny only (built from crates.io: 3 to 5 minutes, once)
#   scripts/tools.sh path            # prints the PATH entry: export PATH="$(scripts/tools.sh path):$PATH"
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/tools"

requirements="$root/scripts/requirements-tools.txt"

# cargo-deny, pinned here (the one place for its version), built from crates.io into the same
# bin/ as the Python tools, so `path` stays one entry. This version declares no optional
# features (no HTTP client: it fetches the advisory database with the `git` command, and the
# licenses, bans and sources checks read only Cargo.lock and the downloaded crates);
# --no-default-features keeps a later version as lean. Its release profile asks for fat LTO and
# one codegen unit, which a lint tool does not need: without them the build took 10% less time
# on two cores (5 min 0 s against 5 min 35 s, built side by side).
deny_version="0.20.2"
deny_install=(env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  cargo install cargo-deny --version "$deny_version" --locked --no-default-features
  --root "$venv")

# The pinned cargo-lambda line of requirements-tools.txt (one pin for both sets).
lambda_pin() {
  grep -E '^cargo-lambda==' "$requirements"
}

install_all() {
  install_base
  install_deny
}

install_base() {
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

install_deny() {
  local stamp="$venv/.cargo-deny.version" log="$root/.local/cargo-deny-install.log"
  if [[ -x "$venv/bin/cargo-deny" && "$(cat "$stamp" 2>/dev/null)" == "$deny_version" ]]; then
    return 0
  fi
  echo "installing cargo-deny $deny_version into .local/tools (3 to 5 minutes, once) ..." >&2
  mkdir -p "$venv"
  if ! "${deny_install[@]}" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "tools: step 'install cargo-deny' failed (log above, .local/cargo-deny-install.log)." >&2
    echo "  Run it by hand: ${deny_install[*]}" >&2
    return 1
  fi
  "$venv/bin/cargo-deny" --version >/dev/null
  echo "$deny_version" >"$stamp"
}

case "${1:-}" in
  install)
    case "${2:-all}" in
      all) install_all ;;
      base) install_base ;;
      lambda) install_lambda ;;
      deny) install_deny ;;
      *) echo "usage: $0 install [all|base|lambda|deny]" >&2; exit 2 ;;
    esac ;;
  path) echo "$venv/bin" ;;
  *) echo "usage: $0 install [all|base|lambda|deny] | path" >&2; exit 2 ;;
esac
