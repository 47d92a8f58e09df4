#!/usr/bin/env bash
# A release, as far as it goes without an AWS account: everything `sam package` and `sam
# publish` need, in one directory.
#
#   scripts/release.sh [DIR]      # default dist/
#
# RELEASE_PROFILE (default release) picks the cargo profile: CI sets release-check, which
# checks the same path (arm64 cross-compile, zips, template) without fat LTO (Cargo.toml).
#
# DIR gets the six arm64 bootstraps, zipped (`cargo lambda build --profile PROFILE --arm64
# --output-format zip`), template.yaml rewritten to deploy them as they are (each function's
# CodeUri its zip, no build metadata, Architecture arm64 only: `cargo xtask release-template`),
# LICENSE, README.md and CHANGELOG.md (the Serverless Application Repository metadata names the
# first two), and SHA256SUMS of every file. The template is checked (sam validate --lint,
# cfn-lint). Then, with an account (docs/deploy.md):
#
#   sam package --template-file dist/template.yaml --s3-bucket BUCKET \
#     --output-template-file dist/packaged.yaml
#   sam deploy --template-file dist/packaged.yaml --stack-name NAME --capabilities CAPABILITY_IAM ...
#   sam publish --template dist/packaged.yaml          # to the Serverless Application Repository
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
dist="$(realpath -m "${1:-dist}")"
functions=(presence-handler presence-alerter presence-reconciler presence-widget presence-api presence-changes)

scripts/tools.sh install base
export PATH="$(scripts/tools.sh path):$PATH"
export AWS_REGION="${AWS_REGION:-us-east-1}"

rm -rf "$dist"
mkdir -p "$dist"
bins=()
for f in "${functions[@]}"; do bins+=(--bin "$f"); done
profile="${RELEASE_PROFILE:-release}"
echo "building the arm64 bootstraps (profile $profile) ..." >&2
cargo lambda build --profile "$profile" --arm64 --locked --output-format zip "${bins[@]}"
for f in "${functions[@]}"; do
  cp "target/lambda/$f/bootstrap.zip" "$dist/$f.zip"
done
xtask release-template --output "$dist/template.yaml"
# Every zip the written template names was built: a function added to the template but not to
# the list above fails here, not at deploy.
for zip in $(sed -n 's/^ *CodeUri: \(.*\.zip\)$/\1/p' "$dist/template.yaml"); do
  [[ -f "$dist/$zip" ]] || { echo "release: the template names $zip, which was not built (add it to functions=)" >&2; exit 1; }
done
cp LICENSE README.md CHANGELOG.md "$dist/"
sam validate --lint --template-file "$dist/template.yaml"
cfn-lint "$dist/template.yaml"
(cd "$dist" && sha256sum -- * > SHA256SUMS)
ls -l "$dist"
echo "release in $dist; next, with an account: sam package --template-file $dist/template.yaml --s3-bucket BUCKET --output-template-file $dist/packaged.yaml" >&2
