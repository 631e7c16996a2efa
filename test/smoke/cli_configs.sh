#!/usr/bin/env bash
# Smoke test: drives a running kiln with Debian's AWS CLI through the
# infrastructure configuration, distribution configuration and lifecycle
# policy operations. Usage: cli_configs.sh ENDPOINT_URL NEWER_MODEL_DIR
# NEWER_MODEL_DIR is an AWS_DATA_PATH directory holding
# imagebuilder/2019-12-02/service-2.json from aws-sdk-go v1.55.7: Debian's
# model lacks lifecycle policies. (Members newer than that model, such as
# placement, no CLI model knows; the Go tests cover them.)
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli_configs.sh ENDPOINT_URL NEWER_MODEL_DIR}
newer=${2:?usage: cli_configs.sh ENDPOINT_URL NEWER_MODEL_DIR}
unset AWS_DATA_PATH
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ibn() { AWS_DATA_PATH="$newer" ib "$@"; }

infra=$(ib create-infrastructure-configuration --name cli-infra --instance-profile-name ImageBuilderProfile \
  --instance-types m5.large t3.micro --logging 's3Logs={s3BucketName=logs,s3KeyPrefix=cli/}' \
  --no-terminate-instance-on-failure --resource-tags CostCenter=images \
  --instance-metadata-options httpTokens=required,httpPutResponseHopLimit=2 --tags team=cli \
  | field 'd["infrastructureConfigurationArn"]')
[ "$infra" = "arn:aws:imagebuilder:us-east-1:000000000000:infrastructure-configuration/cli-infra" ] || fail "infra arn $infra"
ok create-infrastructure-configuration

ib get-infrastructure-configuration --infrastructure-configuration-arn "$infra" >"$work/infra.json"
[ "$(field 'd["infrastructureConfiguration"]["instanceTypes"]' <"$work/infra.json")" = "['m5.large', 't3.micro']" ] || fail "instanceTypes"
[ "$(field 'd["infrastructureConfiguration"]["terminateInstanceOnFailure"]' <"$work/infra.json")" = False ] || fail "terminateInstanceOnFailure"
[ "$(field 'd["infrastructureConfiguration"]["instanceMetadataOptions"]["httpPutResponseHopLimit"]' <"$work/infra.json")" = 2 ] || fail "hop limit"
[ "$(field 'd["infrastructureConfiguration"]["tags"]' <"$work/infra.json")" = "{'team': 'cli'}" ] || fail "tags"
ok get-infrastructure-configuration

ib update-infrastructure-configuration --infrastructure-configuration-arn "$infra" --instance-profile-name Other \
  --subnet-id subnet-0123456789abcdef0 >/dev/null
ib get-infrastructure-configuration --infrastructure-configuration-arn "$infra" >"$work/infra.json"
[ "$(field 'd["infrastructureConfiguration"].get("instanceTypes")' <"$work/infra.json")" = None ] || fail "update did not clear instanceTypes"
[ "$(field 'd["infrastructureConfiguration"]["subnetId"]' <"$work/infra.json")" = subnet-0123456789abcdef0 ] || fail "subnetId"
[ "$(field 'd["infrastructureConfiguration"]["dateUpdated"][-1]' <"$work/infra.json")" = Z ] || fail "dateUpdated"
ok update-infrastructure-configuration

[ "$(ib list-infrastructure-configurations --filters name=name,values=cli-infra | field 'd["infrastructureConfigurationSummaryList"][0]["instanceProfileName"]')" = Other ] || fail "list infra"
ok list-infrastructure-configurations

cat >"$work/dists.json" <<'JSON'
[{"region": "us-east-1",
  "amiDistributionConfiguration": {"name": "cli-{{ imagebuilder:buildDate }}", "amiTags": {"app": "cli"},
    "launchPermission": {"userIds": ["111122223333"]}},
  "launchTemplateConfigurations": [{"launchTemplateId": "lt-0123456789abcdef0", "setDefaultVersion": true}]},
 {"region": "eu-west-1",
  "containerDistributionConfiguration": {"containerTags": ["latest"], "targetRepository": {"service": "ECR", "repositoryName": "cli"}}}]
JSON
dist=$(ib create-distribution-configuration --name cli-dist --distributions "file://$work/dists.json" | field 'd["distributionConfigurationArn"]')
ib get-distribution-configuration --distribution-configuration-arn "$dist" >"$work/dist.json"
/usr/bin/python3 - "$work/dists.json" "$work/dist.json" <<'PY' || fail "distributions differ"
import json, sys
sent = json.load(open(sys.argv[1])); got = json.load(open(sys.argv[2]))["distributionConfiguration"]
assert got["distributions"] == sent, got["distributions"]
assert got["timeoutMinutes"] == 720, got
PY
ok create-distribution-configuration get-distribution-configuration

expect_error InvalidParameterValueException ib create-distribution-configuration --name cli-dup \
  --distributions region=us-east-1 region=us-east-1
ok duplicate region rejected

[ "$(ib list-distribution-configurations | field 'd["distributionConfigurationSummaryList"][0]["regions"]')" = "['us-east-1', 'eu-west-1']" ] || fail "list dist regions"
ok list-distribution-configurations

cat >"$work/details.json" <<'JSON'
[{"action": {"type": "DEPRECATE"}, "filter": {"type": "AGE", "value": 2, "unit": "WEEKS", "retainAtLeast": 1}},
 {"action": {"type": "DELETE", "includeResources": {"amis": true, "snapshots": true}}, "filter": {"type": "COUNT", "value": 5},
  "exclusionRules": {"tagMap": {"keep": "yes"}}}]
JSON
policy=$(ibn create-lifecycle-policy --name cli-policy --execution-role LifecycleRole --resource-type AMI_IMAGE \
  --policy-details "file://$work/details.json" --resource-selection 'recipes=[{name=cli-recipe,semanticVersion=1.x.x}]' \
  | field 'd["lifecyclePolicyArn"]')
ibn get-lifecycle-policy --lifecycle-policy-arn "$policy" >"$work/policy.json"
/usr/bin/python3 - "$work/details.json" "$work/policy.json" <<'PY' || fail "policy differs"
import json, sys
sent = json.load(open(sys.argv[1])); got = json.load(open(sys.argv[2]))["lifecyclePolicy"]
assert got["policyDetails"] == sent, got["policyDetails"]
assert got["status"] == "ENABLED" and isinstance(got["dateCreated"], str), got
PY
ok create-lifecycle-policy get-lifecycle-policy

expect_error InvalidRequestException ibn create-lifecycle-policy --name cli-bad --execution-role LifecycleRole \
  --resource-type AMI_IMAGE --policy-details "file://$work/details.json" \
  --resource-selection 'recipes=[{name=cli-recipe,semanticVersion=1.0.0}],tagMap={a=b}'
ok lifecycle selection rules

ibn delete-lifecycle-policy --lifecycle-policy-arn "$policy" >/dev/null
ib delete-distribution-configuration --distribution-configuration-arn "$dist" >/dev/null
ib delete-infrastructure-configuration --infrastructure-configuration-arn "$infra" >/dev/null
expect_error ResourceNotFoundException ib get-infrastructure-configuration --infrastructure-configuration-arn "$infra"
ok deletes

echo "$passed passed, 0 failed"
