#!/usr/bin/env bash
# Smoke test: drives a running kiln with Debian's AWS CLI through every
# component, tag and policy operation. Usage: cli.sh ENDPOINT_URL
# Exits non-zero on the first surprise; prints "N passed, 0 failed".
set -euo pipefail
endpoint=${1:?usage: cli.sh ENDPOINT_URL}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat >"$work/doc.yaml" <<'DOC'
name: smoke
description: smoke test component
schemaVersion: 1.0
parameters:
  - Who:
      type: string
      default: world
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo "hello {{ Who }}"
DOC

arn=$(ib create-component --name cli-smoke --semantic-version 1.0.0 --platform Linux \
  --data "file://$work/doc.yaml" --tags team=images --description "from the CLI" | field 'd["componentBuildVersionArn"]')
[ "$arn" = "arn:aws:imagebuilder:us-east-1:000000000000:component/cli-smoke/1.0.0/1" ] || fail "create-component arn $arn"
ok create-component

ib get-component --component-build-version-arn "$arn" >"$work/get.json"
[ "$(field 'd["component"]["description"]' <"$work/get.json")" = "from the CLI" ] || fail "get-component description"
[ "$(field 'd["component"]["type"]' <"$work/get.json")" = "BUILD" ] || fail "get-component type"
[ "$(field 'd["component"]["parameters"][0]["defaultValue"][0]' <"$work/get.json")" = "world" ] || fail "get-component parameters"
cmp -s <(field 'd["component"]["data"]' <"$work/get.json") <(cat "$work/doc.yaml"; echo) || fail "get-component data differs"
ok get-component

[ "$(ib get-component --component-build-version-arn "${arn%/1.0.0/1}/x.x.x" | field 'd["component"]["arn"]')" = "$arn" ] || fail "wildcard get"
ok get-component by wildcard

for i in 1 2 3 4 5; do ib create-component --name "cli-page-$i" --semantic-version "1.0.$i" --platform Linux --data "file://$work/doc.yaml" >/dev/null; done
# Debian's CLI has no paginator for imagebuilder, so page by hand as a
# script would: maxResults 2, following nextToken until it is absent.
n=0 token=""
while :; do
  ib list-components --max-results 2 ${token:+--next-token "$token"} >"$work/page.json"
  n=$((n + $(field 'len(d.get("componentVersionList", []))' <"$work/page.json")))
  token=$(field 'd.get("nextToken", "")' <"$work/page.json")
  [ -n "$token" ] || break
done
[ "$n" = 6 ] || fail "list-components paginated found $n, want 6"
ok list-components paginated

[ "$(ib list-components --filters name=type,values=TEST | field 'len(d.get("componentVersionList", []))')" = 0 ] || fail "filter"
ok list-components filtered

[ "$(ib list-components --owner Amazon --by-name | field 'len([v for v in d["componentVersionList"] if v["name"]=="update-linux"])')" = 1 ] || fail "Amazon catalogue"
ok list-components owner Amazon

[ "$(ib list-component-build-versions --component-version-arn "${arn%/1}" | field 'd["componentSummaryList"][0]["arn"]')" = "$arn" ] || fail "build versions"
ok list-component-build-versions

ib tag-resource --resource-arn "$arn" --tags owner=cli >/dev/null
ib untag-resource --resource-arn "$arn" --tag-keys team >/dev/null
[ "$(ib list-tags-for-resource --resource-arn "$arn" | field 'd["tags"]')" = "{'owner': 'cli'}" ] || fail "tags"
ok tag-resource untag-resource list-tags-for-resource

policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012"]},"Action":["imagebuilder:GetComponent"],"Resource":["'"$arn"'"]}]}'
ib put-component-policy --component-arn "$arn" --policy "$policy" >/dev/null
[ "$(ib get-component-policy --component-arn "$arn" | field 'd["policy"]')" = "$policy" ] || fail "policy round trip"
ok put-component-policy get-component-policy

printf '#!/bin/bash\necho imported\n' >"$work/script.sh"
imported=$(ib import-component --name cli-import --semantic-version 2.0.0 --type TEST --format SHELL --platform Linux \
  --data "file://$work/script.sh" | field 'd["componentBuildVersionArn"]')
[ "$(ib get-component --component-build-version-arn "$imported" | field 'd["component"]["type"]')" = TEST ] || fail "import type"
ok import-component

expect_error IdempotentParameterMismatchException bash -c '
  "$0" --endpoint-url "$1" imagebuilder create-component --name idem --semantic-version 1.0.0 --platform Linux --data "file://$2" --client-token tok-1 >/dev/null &&
  "$0" --endpoint-url "$1" imagebuilder create-component --name idem --semantic-version 1.0.0 --platform Linux --data "file://$2" --client-token tok-1 --description changed' \
  "$aws" "$endpoint" "$work/doc.yaml"
ok idempotency mismatch

expect_error InvalidParameterValueException ib create-component --name bad --semantic-version 1.0.0 --platform Linux --data "phases: [oops"
expect_error InvalidVersionNumberException ib create-component --name bad --semantic-version 1073741824.0.0 --platform Linux --data "file://$work/doc.yaml"
expect_error InvalidParameterCombinationException ib create-component --name bad --semantic-version 1.0.0 --platform Linux
ok bad input rejected

ib delete-component --component-build-version-arn "$arn" >/dev/null
expect_error ResourceNotFoundException ib get-component --component-build-version-arn "$arn"
ok delete-component

expect_error ResourceNotFoundException ib list-image-packages --image-build-version-arn arn:aws:imagebuilder:us-east-1:000000000000:image/none/1.0.0/1
ok list-image-packages of an unknown image
expect_error ResourceNotFoundException ib cancel-image-creation --image-build-version-arn arn:aws:imagebuilder:us-east-1:000000000000:image/none/1.0.0/1
ok cancel-image-creation of an unknown image

echo "$passed passed, 0 failed"
