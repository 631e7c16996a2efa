#!/usr/bin/env bash
# Smoke test: drives a running kiln with Debian's AWS CLI through workflows
# (with the newer model from MODEL_DIR, which knows them) and image
# pipelines (with Debian's own model). Usage: cli_pipelines.sh ENDPOINT_URL MODEL_DIR
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli_pipelines.sh ENDPOINT_URL MODEL_DIR}
model_dir=${2:?usage: cli_pipelines.sh ENDPOINT_URL MODEL_DIR}
unset AWS_DATA_PATH
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ibnew() { AWS_DATA_PATH="$model_dir" ib "$@"; }

cat >"$work/flow.yaml" <<'DOC'
schemaVersion: 1.0
parameters:
  - name: approve
    type: boolean
    default: false
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Approve
    action: WaitForAction
    if:
      booleanEquals: true
      value: $.parameters.approve
DOC

wf=$(ibnew create-workflow --name cli-flow --semantic-version 1.0.0 --type BUILD --data "file://$work/flow.yaml" | field 'd["workflowBuildVersionArn"]')
[ "$wf" = "arn:aws:imagebuilder:us-east-1:000000000000:workflow/build/cli-flow/1.0.0/1" ] || fail "create-workflow arn $wf"
ok create-workflow

ibnew get-workflow --workflow-build-version-arn "${wf%/1.0.0/1}/x.x.x" >"$work/wf.json"
[ "$(field 'd["workflow"]["type"], d["workflow"]["parameters"][0]["defaultValue"]' <"$work/wf.json")" = "BUILD ['false']" ] || fail "get-workflow: $(cat "$work/wf.json")"
ok get-workflow by wildcard

[ "$(ibnew list-workflows --owner Amazon | field 'len(d["workflowVersionList"])')" = 6 ] || fail "Amazon workflows"
ok list-workflows --owner Amazon

printf 'schemaVersion: 1.0\nsteps:\n  - name: Ship\n    action: DistributeImage\n' >"$work/bad.yaml"
expect_error InvalidParameterValueException ibnew create-workflow --name cli-bad --semantic-version 1.0.0 --type BUILD --data "file://$work/bad.yaml"
grep -q "line 3" "$work/err" || fail "workflow error names no line: $(cat "$work/err")"
ok create-workflow rejects a distribution step in a build workflow

cat >"$work/comp.yaml" <<'DOC'
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: [echo hello]
DOC
comp=$(ib create-component --name cli-pipe-comp --semantic-version 1.0.0 --platform Linux --data "file://$work/comp.yaml" | field 'd["componentBuildVersionArn"]')
if ! ib create-image-recipe --name cli-pipe-recipe --semantic-version 1.0.0 --parent-image ami-0123456789abcdef0 \
    --components "componentArn=$comp" >"$work/recipe.json" 2>"$work/err"; then
  grep -q "does not support the operation" "$work/err" || fail "create-image-recipe: $(cat "$work/err")"
  echo "# SKIP pipelines: kiln does not implement CreateImageRecipe yet"
  echo "$passed passed, 0 failed"
  exit 0
fi
recipe=$(field 'd["imageRecipeArn"]' <"$work/recipe.json")
infra=$(ib create-infrastructure-configuration --name cli-pipe-infra --instance-profile-name builder | field 'd["infrastructureConfigurationArn"]')
ok create-image-recipe create-infrastructure-configuration

pipe=$(ib create-image-pipeline --name cli-pipeline --image-recipe-arn "$recipe" --infrastructure-configuration-arn "$infra" \
  --schedule 'scheduleExpression=cron(0 6 ? * mon *),timezone=Europe/Paris' --tags team=images | field 'd["imagePipelineArn"]')
[ "$pipe" = "arn:aws:imagebuilder:us-east-1:000000000000:image-pipeline/cli-pipeline" ] || fail "create-image-pipeline arn $pipe"
ok create-image-pipeline

ib get-image-pipeline --image-pipeline-arn "$pipe" >"$work/pipe.json"
/usr/bin/python3 - "$work/pipe.json" <<'PY' || fail "get-image-pipeline: $(cat "$work/pipe.json")"
import datetime, json, sys, zoneinfo
p = json.load(open(sys.argv[1]))["imagePipeline"]
assert p["status"] == "ENABLED" and p["enhancedImageMetadataEnabled"] is True, p
assert p["imageTestsConfiguration"] == {"imageTestsEnabled": True, "timeoutMinutes": 720}, p
assert p["schedule"]["pipelineExecutionStartCondition"] == "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE", p
assert p["tags"] == {"team": "images"} and p["platform"] == "Linux", p
nxt = datetime.datetime.fromisoformat(p["dateNextRun"].replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 6, 0), nxt
PY
ok get-image-pipeline with defaults and dateNextRun

ib update-image-pipeline --image-pipeline-arn "$pipe" --image-recipe-arn "$recipe" --infrastructure-configuration-arn "$infra" \
  --schedule 'scheduleExpression=rate(1 day)' --status DISABLED >/dev/null
[ "$(ib list-image-pipelines --filters name=status,values=DISABLED | field '[(p["name"], "dateNextRun" in p) for p in d["imagePipelineList"]]')" = "[('cli-pipeline', False)]" ] || fail "list disabled"
ok update-image-pipeline list-image-pipelines

expect_error InvalidParameterValueException ib create-image-pipeline --name cli-bad --image-recipe-arn "$recipe" \
  --infrastructure-configuration-arn "$infra" --schedule 'scheduleExpression=cron(61 * * * ? *)'
grep -q "schedule.scheduleExpression" "$work/err" || fail "bad schedule error: $(cat "$work/err")"
ok bad schedule expression

ib delete-image-pipeline --image-pipeline-arn "$pipe" >/dev/null
expect_error ResourceNotFoundException ib get-image-pipeline --image-pipeline-arn "$pipe"
ok delete-image-pipeline

echo "$passed passed, 0 failed"
