# Shared by the AWS CLI smoke scripts, which set `endpoint` and then source
# this file: a clean CLI environment (no user config, one attempt), a work
# directory removed on exit, and the helpers that count and print what
# passed ("ok N - what", then "N passed, 0 failed" from done).
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDSMOKE} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-smoke-secret}
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1
aws=${AWS_CLI:-/usr/bin/aws}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0

ib() { "$aws" --endpoint-url "$endpoint" --output json imagebuilder "$@"; }
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "FAIL: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); exec("print(" + sys.argv[1] + ")")' "$1"; }
# expect_error CODE CMD...: the command must fail with that AWS error code.
expect_error() {
  local code=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "expected $code from: $*"; fi
  grep -q "($code)" "$work/err" || fail "expected $code, got: $(cat "$work/err")"
}
