#!/usr/bin/env bash
# Smoke test: drives a running kiln with Debian's AWS CLI (its own model
# knows recipes and images) through image recipes, container recipes and
# the Amazon-owned parent images. Usage: cli_recipes.sh ENDPOINT_URL
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli_recipes.sh ENDPOINT_URL}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDSMOKE} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-smoke-secret}
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1
unset AWS_DATA_PATH
aws=${AWS_CLI:-/usr/bin/aws}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0

ib() { "$aws" --endpoint-url "$endpoint" --output json imagebuilder "$@"; }
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "FAIL: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); exec("print(" + sys.argv[1] + ")")' "$1"; }
expect_error() {
  local code=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "expected $code from: $*"; fi
  grep -q "($code)" "$work/err" || fail "expected $code, got: $(cat "$work/err")"
}

base="arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x"
[ "$(ib list-images --owner Amazon --filters name=name,values=amazon-linux-2023-x86 \
  | field 'd["imageVersionList"][0]["owner"], d["imageVersionList"][0]["platform"]')" = "Amazon Linux" ] || fail "list-images owner Amazon"
ok list-images --owner Amazon

cat >"$work/hello.yaml" <<'YAML'
name: hello
schemaVersion: 1.0
parameters:
  - Target:
      type: string
      description: whom to greet
phases:
  - name: build
    steps:
      - name: Say
        action: ExecuteBash
        inputs:
          commands:
            - echo "hello, {{ Target }}"
YAML
comp=$(ib create-component --name cli-hello --semantic-version 1.0.0 --platform Linux --data "file://$work/hello.yaml" \
  | field 'd["componentBuildVersionArn"]')
ok create-component

cat >"$work/components.json" <<JSON
[{"componentArn": "${comp%/1.0.0/1}/x.x.x", "parameters": [{"name": "Target", "value": ["cli"]}]}]
JSON
cat >"$work/bdm.json" <<'JSON'
[{"deviceName": "/dev/xvda", "ebs": {"encrypted": true, "deleteOnTermination": true, "volumeSize": 30,
  "volumeType": "gp3", "iops": 4000, "throughput": 300, "kmsKeyId": "alias/images", "snapshotId": "snap-0123456789abcdef0"}},
 {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"}]
JSON
recipe=$(ib create-image-recipe --name cli-recipe --semantic-version 1.0.0 --parent-image "$base" \
  --components "file://$work/components.json" --block-device-mappings "file://$work/bdm.json" \
  --working-directory /var/tmp --tags team=cli \
  --additional-instance-configuration 'systemsManagerAgent={uninstallAfterBuild=true},userDataOverride=IyEvYmluL2Jhc2gK' \
  | field 'd["imageRecipeArn"]')
[ "$recipe" = "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/cli-recipe/1.0.0" ] || fail "recipe arn $recipe"
ok create-image-recipe

ib get-image-recipe --image-recipe-arn "$recipe" >"$work/recipe.json"
[ "$(field 'd["imageRecipe"]["components"][0]["componentArn"]' <"$work/recipe.json")" = "${comp%/1.0.0/1}/x.x.x" ] || fail "componentArn"
[ "$(field 'd["imageRecipe"]["blockDeviceMappings"][0]["ebs"]["throughput"]' <"$work/recipe.json")" = 300 ] || fail "throughput"
[ "$(field 'd["imageRecipe"]["additionalInstanceConfiguration"]["systemsManagerAgent"]["uninstallAfterBuild"]' <"$work/recipe.json")" = True ] || fail "ssm agent"
[ "$(field 'd["imageRecipe"]["platform"], d["imageRecipe"]["workingDirectory"], d["imageRecipe"]["tags"]["team"]' <"$work/recipe.json")" = "Linux /var/tmp cli" ] || fail "platform/workingDirectory/tags"
ok get-image-recipe

expect_error ResourceAlreadyExistsException ib create-image-recipe --name cli-recipe --semantic-version 1.0.0 \
  --parent-image "$base" --components "file://$work/components.json"
ok create-image-recipe duplicate

[ "$(ib list-image-recipes --filters name=parentImage,values="$base" | field 'len(d["imageRecipeSummaryList"])')" = 1 ] || fail "list-image-recipes"
ok list-image-recipes

printf 'FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n' >"$work/Dockerfile"
expect_error InvalidParameterValueException ib create-container-recipe --container-type DOCKER --name cli-bad \
  --semantic-version 1.0.0 --components "file://$work/components.json" --parent-image debian:12 \
  --dockerfile-template-data 'FROM debian:12' --target-repository service=ECR,repositoryName=cli
ok create-container-recipe bad template

container=$(ib create-container-recipe --container-type DOCKER --name cli-container --semantic-version 1.0.0 \
  --components "componentArn=$comp,parameters=[{name=Target,value=[container]}]" --parent-image docker.io/library/debian:12 \
  --dockerfile-template-data "file://$work/Dockerfile" --target-repository service=ECR,repositoryName=cli/app \
  --platform-override Linux --image-os-version-override "Debian 12" --working-directory /build \
  --instance-configuration image=ami-0123456789abcdef0 --tags team=cli | field 'd["containerRecipeArn"]')
ok create-container-recipe

ib get-container-recipe --container-recipe-arn "$container" >"$work/container.json"
/usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["containerRecipe"]["dockerfileTemplateData"] != open(sys.argv[2]).read())' \
  "$work/container.json" "$work/Dockerfile" || fail "template"
[ "$(field 'd["containerRecipe"]["targetRepository"]["repositoryName"], d["containerRecipe"]["instanceConfiguration"]["image"]' <"$work/container.json")" = "cli/app ami-0123456789abcdef0" ] || fail "targetRepository/instanceConfiguration"
ok get-container-recipe

expect_error ResourceDependencyException ib delete-component --component-build-version-arn "$comp"
ok delete-component used by a recipe

ib delete-container-recipe --container-recipe-arn "$container" >/dev/null
ib delete-image-recipe --image-recipe-arn "$recipe" >/dev/null
expect_error ResourceNotFoundException ib get-image-recipe --image-recipe-arn "$recipe"
ok delete recipes

echo "$passed passed, 0 failed"
