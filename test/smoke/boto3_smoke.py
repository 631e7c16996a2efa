#!/usr/bin/python3
"""Smoke test: drives a running kiln with Debian's boto3 through every
component, tag and policy operation. Usage: boto3_smoke.py ENDPOINT_URL"""
import sys

sys.dont_write_bytecode = True  # keep test/smoke free of __pycache__
import smokelib  # noqa: E402
from smokelib import expect_error, ok  # noqa: E402

endpoint = sys.argv[1]
ib = smokelib.client(endpoint)
DOC = """name: boto
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello
"""


arn = ib.create_component(name="boto-smoke", semanticVersion="3.1.4", platform="Linux",
                          data=DOC, tags={"k": "v"}, supportedOsVersions=["Debian 12"])["componentBuildVersionArn"]
assert arn == "arn:aws:imagebuilder:us-east-1:000000000000:component/boto-smoke/3.1.4/1", arn
ok("create_component")

comp = ib.get_component(componentBuildVersionArn=arn)["component"]
assert comp["data"] == DOC and comp["tags"] == {"k": "v"} and comp["supportedOsVersions"] == ["Debian 12"], comp
assert comp["encrypted"] is True and comp["dateCreated"].endswith("Z"), comp
ok("get_component echoes what create was given")

for i in range(12):
    ib.create_component(name=f"boto-page-{i:02d}", semanticVersion="1.0.0", platform="Linux", data=DOC)
# Debian's botocore ships no paginator for imagebuilder: follow nextToken.
names, kwargs = [], {"maxResults": 5}
while True:
    page = ib.list_components(**kwargs)
    names += [v["name"] for v in page["componentVersionList"]]
    if "nextToken" not in page:
        break
    kwargs["nextToken"] = page["nextToken"]
assert names == ["boto-page-%02d" % i for i in range(12)] + ["boto-smoke"], names
ok("list_components paginated by nextToken")

by_name = ib.list_components(byName=True, owner="Amazon")["componentVersionList"]
assert any(v["name"] == "hello-world-linux" for v in by_name), by_name
ok("list_components owner Amazon byName")

ib.tag_resource(resourceArn=arn, tags={"team": "boto"})
ib.untag_resource(resourceArn=arn, tagKeys=["k"])
assert ib.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "boto"}
ok("tagging")

expect_error("InvalidParameterException", ib.tag_resource, resourceArn=arn, tags={"aws:x": "y"})
ok("aws: tag keys rejected")

policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponent"}]}'
ib.put_component_policy(componentArn=arn, policy=policy)
assert ib.get_component_policy(componentArn=arn)["policy"] == policy
ok("component policy")

first = ib.create_component(name="boto-idem", semanticVersion="1.0.0", platform="Linux", data=DOC, clientToken="boto-tok")
again = ib.create_component(name="boto-idem", semanticVersion="1.0.0", platform="Linux", data=DOC, clientToken="boto-tok")
assert first["componentBuildVersionArn"] == again["componentBuildVersionArn"]
expect_error("IdempotentParameterMismatchException", ib.create_component, name="boto-idem", semanticVersion="1.0.0",
             platform="Linux", data=DOC, clientToken="boto-tok", description="other")
ok("idempotency")

e = expect_error("InvalidParameterValueException", ib.create_component, name="boto-bad", semanticVersion="1.0.0",
                 platform="Linux", data="name: x\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps: []\n")
assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
expect_error("ResourceNotFoundException", ib.get_component,
             componentBuildVersionArn="arn:aws:imagebuilder:us-east-1:000000000000:component/nope/1.0.0/1")
ok("errors")

ib.delete_component(componentBuildVersionArn=arn)
expect_error("ResourceNotFoundException", ib.get_component, componentBuildVersionArn=arn)
ok("delete_component")

smokelib.done()
