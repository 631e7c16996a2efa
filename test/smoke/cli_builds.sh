#!/usr/bin/env bash
# Smoke test: Debian's AWS CLI drives a container build in a running kiln
# and waits for it the way a user's script would (get-image in a loop),
# then reads the packages. Usage: cli_builds.sh ENDPOINT_URL BASE_REFERENCE
# BASE_REFERENCE is an image the Go test pushed into kiln's registry.
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli_builds.sh ENDPOINT_URL BASE_REFERENCE}
base=${2:?usage: cli_builds.sh ENDPOINT_URL BASE_REFERENCE}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat >"$work/hello.yaml" <<'DOC'
name: cli-hello
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: ["echo hello from the cli > /etc/cli"]
DOC
component=$(ib create-component --name cli-hello --semantic-version 1.0.0 --platform Linux \
  --data "file://$work/hello.yaml" | field 'd["componentBuildVersionArn"]')
recipe=$(ib create-container-recipe --name cli-app --semantic-version 1.0.0 --container-type DOCKER \
  --parent-image "$base" --components "componentArn=$component" \
  --target-repository service=ECR,repositoryName=cli/app \
  --dockerfile-template-data $'FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\nCMD ["/bin/sh"]' \
  | field 'd["containerRecipeArn"]')
infra=$(ib create-infrastructure-configuration --name cli-build-infra --instance-profile-name kiln \
  | field 'd["infrastructureConfigurationArn"]')
image=$(ib create-image --container-recipe-arn "$recipe" --infrastructure-configuration-arn "$infra" \
  --image-tests-configuration imageTestsEnabled=false | field 'd["imageBuildVersionArn"]')
ok create-image

for _ in $(seq 60); do
  status=$(ib get-image --image-build-version-arn "$image" | field 'd["image"]["state"]["status"]')
  case $status in AVAILABLE | FAILED | CANCELLED) break ;; esac
  sleep 1
done
[ "$status" = AVAILABLE ] || fail "image is $status"
uri=$(ib get-image --image-build-version-arn "$image" | field 'd["image"]["outputResources"]["containers"][0]["imageUris"][0]')
case $uri in */cli/app:1.0.0-1) ;; *) fail "image URI $uri" ;; esac
ok "get-image until AVAILABLE"

ib list-image-packages --image-build-version-arn "$image" >"$work/packages.json"
grep -q '"base-files"' "$work/packages.json" || fail "packages: $(cat "$work/packages.json")"
ok list-image-packages
echo "$passed passed, 0 failed"
