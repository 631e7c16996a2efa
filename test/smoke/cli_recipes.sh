#!/usr/bin/env bash
# Smoke test: drives a running kiln with Debian's AWS CLI (its own model
# knows recipes and images) through image recipes, container recipes and
# the Amazon-owned parent images. Usage: cli_recipes.sh ENDPOINT_URL
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli_recipes.sh ENDPOINT_URL}
unset AWS_DATA_PATH
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
