#!/usr/bin/python3
"""Smoke test: drives a running kiln with Debian's boto3 through the
infrastructure configuration, distribution configuration and lifecycle
policy operations. Usage: boto3_configs.py ENDPOINT_URL NEWER_MODEL_DIR

Infrastructure and distribution configurations go through Debian's own
model; lifecycle policies need the newer model in NEWER_MODEL_DIR (an
AWS_DATA_PATH directory with imagebuilder/2019-12-02/service-2.json)."""
import datetime
import sys

sys.dont_write_bytecode = True  # keep test/smoke free of __pycache__
import smokelib  # noqa: E402
from smokelib import expect_error, ok  # noqa: E402

endpoint, newer = sys.argv[1], sys.argv[2]
ib, ibn = smokelib.client(endpoint), smokelib.client(endpoint, newer)


infra_in = dict(
    name="boto-infra", instanceProfileName="ImageBuilderProfile", description="from boto3",
    instanceTypes=["m5.large"], securityGroupIds=["sg-0123456789abcdef0"], subnetId="subnet-0123456789abcdef0",
    logging={"s3Logs": {"s3BucketName": "logs", "s3KeyPrefix": "boto/"}}, keyPair="key",
    terminateInstanceOnFailure=False, snsTopicArn="arn:aws:sns:us-east-1:000000000000:events",
    resourceTags={"CostCenter": "images"}, instanceMetadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 3},
    tags={"team": "boto"},
)
infra = ib.create_infrastructure_configuration(**infra_in)["infrastructureConfigurationArn"]
got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=infra)["infrastructureConfiguration"]
for k, v in infra_in.items():
    assert got[k] == v, (k, got[k], v)
assert got["arn"] == infra and got["dateCreated"].endswith("Z") and "dateUpdated" not in got, got
ok("infrastructure configuration round trip")

expect_error("ResourceAlreadyExistsException", ib.create_infrastructure_configuration, **infra_in)
ok("taken name rejected")

ib.update_infrastructure_configuration(infrastructureConfigurationArn=infra, instanceProfileName="Other")
got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=infra)["infrastructureConfiguration"]
assert "instanceTypes" not in got and "logging" not in got and got["terminateInstanceOnFailure"] is True, got
assert got["tags"] == {"team": "boto"} and got["dateUpdated"].endswith("Z"), got
ok("update replaces")

dists = [
    {"region": "us-east-1", "amiDistributionConfiguration": {
        "name": "boto-{{ imagebuilder:buildVersion }}", "targetAccountIds": ["111122223333"],
        "launchPermission": {"userGroups": ["all"]}},
     "s3ExportConfiguration": {"roleName": "vmimport", "diskImageFormat": "RAW", "s3Bucket": "exports"},
     "fastLaunchConfigurations": [{"enabled": True, "maxParallelLaunches": 6,
                                   "launchTemplate": {"launchTemplateId": "lt-0123456789abcdef0"}}]},
    {"region": "ap-southeast-2", "licenseConfigurationArns": [
        "arn:aws:license-manager:ap-southeast-2:000000000000:license-configuration:lic-0123456789abcdef0123456789abcdef"]},
]
dist = ib.create_distribution_configuration(name="boto-dist", distributions=dists)["distributionConfigurationArn"]
got = ib.get_distribution_configuration(distributionConfigurationArn=dist)["distributionConfiguration"]
assert got["distributions"] == dists and got["timeoutMinutes"] == 720, got
ok("distribution configuration round trip")

e = expect_error("InvalidParameterValueException", ib.create_distribution_configuration, name="boto-bad",
                 distributions=[{"region": "us-east-1", "amiDistributionConfiguration": {"name": "x {{ imagebuilder:nope }}"}}])
assert "amiDistributionConfiguration.name" in e.response["Error"]["Message"], e
ok("unknown AMI name variable rejected")

summaries = ib.list_distribution_configurations(maxResults=1)
assert summaries["distributionConfigurationSummaryList"][0]["regions"] == ["us-east-1", "ap-southeast-2"], summaries
ok("list_distribution_configurations")

details = [{"action": {"type": "DELETE", "includeResources": {"containers": True}},
            "filter": {"type": "AGE", "value": 3, "unit": "MONTHS", "retainAtLeast": 2}}]
policy = ibn.create_lifecycle_policy(
    name="boto-policy", executionRole="LifecycleRole", resourceType="CONTAINER_IMAGE", policyDetails=details,
    resourceSelection={"tagMap": {"lifecycle": "managed"}}, status="DISABLED", tags={"team": "boto"},
)["lifecyclePolicyArn"]
got = ibn.get_lifecycle_policy(lifecyclePolicyArn=policy)["lifecyclePolicy"]
assert got["policyDetails"] == details and got["status"] == "DISABLED" and got["tags"] == {"team": "boto"}, got
assert isinstance(got["dateCreated"], datetime.datetime), got
ok("lifecycle policy round trip (epoch-second timestamps)")

expect_error("InvalidParameterValueException", ibn.create_lifecycle_policy, name="boto-bad", executionRole="r",
             resourceType="CONTAINER_IMAGE", resourceSelection={"tagMap": {"a": "b"}},
             policyDetails=[{"action": {"type": "DEPRECATE"}, "filter": {"type": "AGE", "value": 1, "unit": "DAYS"}}])
ok("container images can only be deleted")

listed = ibn.list_lifecycle_policies(filters=[{"name": "Status", "values": ["DISABLED"]}])["lifecyclePolicySummaryList"]
assert [p["name"] for p in listed] == ["boto-policy"], listed
ok("list_lifecycle_policies filtered")

ibn.delete_lifecycle_policy(lifecyclePolicyArn=policy)
ib.delete_distribution_configuration(distributionConfigurationArn=dist)
ib.delete_infrastructure_configuration(infrastructureConfigurationArn=infra)
expect_error("ResourceNotFoundException", ib.get_distribution_configuration, distributionConfigurationArn=dist)
ok("deletes")

smokelib.done()
