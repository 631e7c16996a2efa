"""boto3 against kiln's build path: a container image built from a base
image the Go test pushed with skopeo (its reference is argv[2]), then the
records a Python user reads: the image, its workflow executions and
steps, its packages; and the errors for a build that cannot be cancelled.

usage: boto3_builds.py ENDPOINT BASE_REFERENCE MODEL_DIR (Debian's botocore
predates the workflow execution operations; MODEL_DIR holds the newer model)"""
import sys
import time

import smokelib
from smokelib import done, expect_error, ok

endpoint, base, models = sys.argv[1], sys.argv[2], sys.argv[3]
ib = smokelib.client(endpoint, models)

component = ib.create_component(
    name="boto-hello", semanticVersion="1.0.0", platform="Linux",
    data="""name: boto-hello
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands: ["echo hello from boto3 > /etc/boto3"]
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["grep -q boto3 /etc/boto3"]
""")["componentBuildVersionArn"]
recipe = ib.create_container_recipe(
    name="boto-app", semanticVersion="1.0.0", containerType="DOCKER", parentImage=base,
    components=[{"componentArn": component}],
    dockerfileTemplateData="FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n",
    targetRepository={"service": "ECR", "repositoryName": "boto/app"},
)["containerRecipeArn"]
infra = ib.create_infrastructure_configuration(name="boto-infra", instanceProfileName="kiln")["infrastructureConfigurationArn"]
image = ib.create_image(containerRecipeArn=recipe, infrastructureConfigurationArn=infra)["imageBuildVersionArn"]
ok("create-image")

deadline = time.time() + 180
while True:
    img = ib.get_image(imageBuildVersionArn=image)["image"]
    status = img["state"]["status"]
    if status in ("AVAILABLE", "FAILED", "CANCELLED"):
        break
    assert time.time() < deadline, f"still {status}"
    time.sleep(0.2)
assert status == "AVAILABLE", img["state"]
uris = img["outputResources"]["containers"][0]["imageUris"]
assert uris[0].endswith("/boto/app:1.0.0-1"), uris
ok("get-image until AVAILABLE, with the pushed image's URI")

execs = ib.list_workflow_executions(imageBuildVersionArn=image)["workflowExecutions"]
assert [(x["type"], x["status"]) for x in execs] == [("BUILD", "COMPLETED"), ("TEST", "COMPLETED"), ("DISTRIBUTION", "COMPLETED")], execs
steps = ib.list_workflow_step_executions(workflowExecutionId=execs[0]["workflowExecutionId"])["steps"]
step = ib.get_workflow_step_execution(stepExecutionId=steps[2]["stepExecutionId"])
assert step["name"] == "ApplyBuildComponents" and step["status"] == "COMPLETED", step
ok("list-workflow-executions, list-workflow-step-executions, get-workflow-step-execution")

packages = ib.list_image_packages(imageBuildVersionArn=image)["imagePackageList"]
assert any(p["packageName"] == "base-files" for p in packages), packages
ok("list-image-packages")

expect_error("InvalidRequestException", ib.cancel_image_creation, imageBuildVersionArn=image, clientToken="boto-cancel")
ok("cancel-image-creation of a finished image")
done()
