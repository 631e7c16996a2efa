#!/usr/bin/python3
"""Smoke test: drives a running kiln with Debian's boto3 through workflows
(with the newer model in MODEL_DIR, which knows them) and image pipelines
(with Debian's own model). Usage: boto3_pipelines.py ENDPOINT_URL MODEL_DIR"""
import datetime
import os
import sys
import zoneinfo

import botocore.exceptions

sys.dont_write_bytecode = True  # keep test/smoke free of __pycache__
import smokelib  # noqa: E402
from smokelib import expect_error, ok  # noqa: E402

endpoint, model_dir = sys.argv[1], sys.argv[2]
os.environ.pop("AWS_DATA_PATH", None)
ib, ibnew = smokelib.client(endpoint), smokelib.client(endpoint, model_dir)


FLOW = """schemaVersion: 1.0
parameters:
  - name: retries
    type: integer
    default: 3
steps:
  - name: LaunchTestInstance
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: ApplyTestComponents
    action: ExecuteComponents
    timeoutSeconds: 7200
    inputs:
      instanceId.$: $.stepOutputs.LaunchTestInstance.instanceId
"""

wf = ibnew.create_workflow(name="boto-flow", semanticVersion="2.0.0", type="TEST", data=FLOW,
                           tags={"k": "v"})["workflowBuildVersionArn"]
assert wf == "arn:aws:imagebuilder:us-east-1:000000000000:workflow/test/boto-flow/2.0.0/1", wf
w = ibnew.get_workflow(workflowBuildVersionArn=wf)["workflow"]
assert w["data"] == FLOW and w["tags"] == {"k": "v"} and w["type"] == "TEST", w
assert w["parameters"] == [{"name": "retries", "type": "integer", "defaultValue": ["3"]}], w["parameters"]
ok("create_workflow get_workflow")

wf2 = ibnew.create_workflow(name="boto-flow", semanticVersion="2.0.0", type="TEST", data=FLOW + "# two\n")["workflowBuildVersionArn"]
assert wf2.endswith("/2.0.0/2"), wf2
builds = ibnew.list_workflow_build_versions(workflowVersionArn=wf.rsplit("/", 1)[0])["workflowSummaryList"]
assert [b["arn"] for b in builds] == [wf, wf2], builds
ok("same version again is the next build")

amazon = ibnew.list_workflows(owner="Amazon")["workflowVersionList"]
assert sorted(v["name"] for v in amazon) == ["build-container", "build-image", "distribute-container",
                                             "distribute-image", "test-container", "test-image"], amazon
assert all(v["owner"] == "Amazon" and ":aws:workflow/" in v["arn"] for v in amazon), amazon
ok("list_workflows owner=Amazon")

e = expect_error("InvalidParameterValueException", ibnew.create_workflow, name="boto-bad", semanticVersion="1.0.0",
                 type="TEST", data=FLOW.replace("timeoutSeconds: 7200", "timeoutSeconds: 999999"))
assert "line 13" in str(e), e
ok("workflow validation errors name lines")

COMP = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: [echo hello]
"""
comp = ib.create_component(name="boto-pipe-comp", semanticVersion="1.0.0", platform="Linux", data=COMP)["componentBuildVersionArn"]
try:
    recipe = ib.create_image_recipe(name="boto-pipe-recipe", semanticVersion="1.0.0", parentImage="ami-0123456789abcdef0",
                                    components=[{"componentArn": comp}])["imageRecipeArn"]
except botocore.exceptions.ClientError as e:
    assert "does not support the operation" in str(e), e
    print("# SKIP pipelines: kiln does not implement CreateImageRecipe yet")
    smokelib.done()
    sys.exit(0)
infra = ib.create_infrastructure_configuration(name="boto-pipe-infra", instanceProfileName="builder")["infrastructureConfigurationArn"]

pipe = ib.create_image_pipeline(
    name="boto-pipeline", description="nightly", imageRecipeArn=recipe, infrastructureConfigurationArn=infra,
    schedule={"scheduleExpression": "cron(0 1 L * ? *)", "timezone": "Asia/Tokyo",
              "pipelineExecutionStartCondition": "EXPRESSION_MATCH_ONLY"},
    imageTestsConfiguration={"imageTestsEnabled": False}, enhancedImageMetadataEnabled=False,
    tags={"team": "images"})["imagePipelineArn"]
assert pipe == "arn:aws:imagebuilder:us-east-1:000000000000:image-pipeline/boto-pipeline", pipe
p = ib.get_image_pipeline(imagePipelineArn=pipe)["imagePipeline"]
assert p["imageTestsConfiguration"] == {"imageTestsEnabled": False, "timeoutMinutes": 720}, p
assert p["enhancedImageMetadataEnabled"] is False and p["status"] == "ENABLED" and p["description"] == "nightly", p
assert p["schedule"]["pipelineExecutionStartCondition"] == "EXPRESSION_MATCH_ONLY", p
nxt = datetime.datetime.fromisoformat(p["dateNextRun"].replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
assert nxt.hour == 1 and (nxt + datetime.timedelta(days=1)).day == 1, nxt  # the last day of a month, 01:00 in Tokyo
ok("create_image_pipeline get_image_pipeline (last-day-of-month cron in Tokyo)")

ib.update_image_pipeline(imagePipelineArn=pipe, imageRecipeArn=recipe, infrastructureConfigurationArn=infra,
                         schedule={"scheduleExpression": "rate(12 hours)"})
p2 = ib.get_image_pipeline(imagePipelineArn=pipe)["imagePipeline"]
assert "description" not in p2 and p2["enhancedImageMetadataEnabled"] is True, p2  # full replacement
assert p2["imageTestsConfiguration"]["imageTestsEnabled"] is True and p2["dateNextRun"] != p["dateNextRun"], p2
assert p2["dateCreated"] == p["dateCreated"] and p2["tags"] == {"team": "images"}, p2
ok("update_image_pipeline replaces settings and recomputes dateNextRun")

found = ib.list_image_pipelines(filters=[{"name": "name", "values": ["boto-pipeline"]}])["imagePipelineList"]
assert [x["arn"] for x in found] == [pipe], found
expect_error("InvalidRequestException", ib.list_image_pipelines, filters=[{"name": "colour", "values": ["blue"]}])
ok("list_image_pipelines filters")

e = expect_error("InvalidParameterValueException", ib.create_image_pipeline, name="boto-bad", imageRecipeArn=recipe,
                 infrastructureConfigurationArn=infra, schedule={"scheduleExpression": "cron(0 1 * * ? *)", "timezone": "Nowhere/Land"})
assert "schedule.timezone" in str(e), e
expect_error("ResourceAlreadyExistsException", ib.create_image_pipeline, name="boto-pipeline", imageRecipeArn=recipe,
             infrastructureConfigurationArn=infra)
ok("bad time zone; duplicate name")

expect_error("ResourceDependencyException", ib.delete_infrastructure_configuration, infrastructureConfigurationArn=infra)
ib.delete_image_pipeline(imagePipelineArn=pipe)
ib.delete_infrastructure_configuration(infrastructureConfigurationArn=infra)
expect_error("ResourceNotFoundException", ib.get_image_pipeline, imagePipelineArn=pipe)
ok("delete in dependency order")

smokelib.done()
