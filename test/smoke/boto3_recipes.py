#!/usr/bin/python3
"""Smoke test: drives a running kiln with Debian's boto3 (its own model
knows recipes and images) through image recipes, container recipes and
the Amazon-owned parent images. Usage: boto3_recipes.py ENDPOINT_URL"""
import sys

sys.dont_write_bytecode = True  # keep test/smoke free of __pycache__
import smokelib  # noqa: E402
from smokelib import expect_error, ok  # noqa: E402

endpoint = sys.argv[1]
ib = smokelib.client(endpoint)


HELLO = """name: hello
schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hello
  - Target:
      type: string
phases:
  - name: build
    steps:
      - name: Say
        action: ExecuteBash
        inputs:
          commands:
            - echo "{{ Greeting }}, {{ Target }}"
"""
BASE = "arn:aws:imagebuilder:us-east-1:aws:image/ubuntu-server-24-lts-x86/x.x.x"
TEMPLATE = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"

images, token = [], None
while True:  # Debian's botocore has no paginator for list_images: follow nextToken by hand
    page = ib.list_images(owner="Amazon", maxResults=5, **({"nextToken": token} if token else {}))
    images += page["imageVersionList"]
    token = page.get("nextToken")
    if not token:
        break
names = {v["name"]: v for v in images}
assert "ubuntu-server-24-lts-x86" in names and names["ubuntu-server-24-lts-x86"]["owner"] == "Amazon", names
assert names["ubuntu-server-24-lts-x86"]["osVersion"] == "Ubuntu 24", names
ok(f"list_images owner Amazon ({len(images)} images, paginated)")

img = ib.get_image(imageBuildVersionArn=BASE)["image"]
assert img["state"]["status"] == "AVAILABLE" and img["platform"] == "Linux", img
builds = ib.list_image_build_versions(imageVersionArn=img["arn"].rsplit("/", 1)[0])["imageSummaryList"]
assert [b["arn"] for b in builds] == [img["arn"]], builds
ok("get_image and list_image_build_versions")

comp = ib.create_component(name="boto-hello", semanticVersion="1.0.0", platform="Linux", data=HELLO)["componentBuildVersionArn"]
components = [{"componentArn": comp, "parameters": [{"name": "Target", "value": ["boto3"]}]}]
bdm = [{"deviceName": "/dev/sda1", "ebs": {"encrypted": False, "deleteOnTermination": True, "volumeSize": 20,
                                           "volumeType": "gp3", "iops": 3000, "throughput": 125}},
       {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"}]
aic = {"systemsManagerAgent": {"uninstallAfterBuild": False}, "userDataOverride": "IyEvYmluL2Jhc2gKZWNobyBoaQo="}
arn = ib.create_image_recipe(name="boto-recipe", semanticVersion="2.0.0", parentImage=BASE, components=components,
                             blockDeviceMappings=bdm, workingDirectory="/opt/build", additionalInstanceConfiguration=aic,
                             description="from boto3", tags={"via": "boto3"})["imageRecipeArn"]
assert arn == "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/boto-recipe/2.0.0", arn
recipe = ib.get_image_recipe(imageRecipeArn=arn)["imageRecipe"]
for member, want in [("components", components), ("blockDeviceMappings", bdm), ("additionalInstanceConfiguration", aic),
                     ("workingDirectory", "/opt/build"), ("parentImage", BASE), ("tags", {"via": "boto3"}),
                     ("platform", "Linux"), ("type", "AMI"), ("owner", "000000000000"), ("version", "2.0.0")]:
    assert recipe[member] == want, (member, recipe[member], want)
ok("create_image_recipe / get_image_recipe round trip")

e = expect_error("InvalidParameterValueException", ib.create_image_recipe, name="boto-bad", semanticVersion="1.0.0",
                 parentImage=BASE, components=[{"componentArn": comp, "parameters": [{"name": "Colour", "value": ["red"]}]}])
assert "Colour" in str(e), e
expect_error("InvalidParameterValueException", ib.create_image_recipe, name="boto-bad", semanticVersion="1.0.0",
             parentImage=BASE, components=[{"componentArn": comp}])
expect_error("ResourceAlreadyExistsException", ib.create_image_recipe, name="boto-recipe", semanticVersion="2.0.0",
             parentImage=BASE, components=components)
ok("recipe validation errors")

policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},'
          '"Action":"imagebuilder:GetImageRecipe","Resource":"' + arn + '"}]}')
expect_error("ResourceNotFoundException", ib.get_image_recipe_policy, imageRecipeArn=arn)
ib.put_image_recipe_policy(imageRecipeArn=arn, policy=policy)
assert ib.get_image_recipe_policy(imageRecipeArn=arn)["policy"] == policy
ok("image recipe policy")

carn = ib.create_container_recipe(containerType="DOCKER", name="boto-container", semanticVersion="1.0.0",
                                  components=components, parentImage="public.ecr.aws/docker/library/alpine:3.20",
                                  dockerfileTemplateData=TEMPLATE, platformOverride="Linux",
                                  imageOsVersionOverride="Alpine 3.20", kmsKeyId="alias/containers",
                                  targetRepository={"service": "ECR", "repositoryName": "boto/app"},
                                  instanceConfiguration={"image": "ami-0123456789abcdef0", "blockDeviceMappings": bdm[:1]})["containerRecipeArn"]
c = ib.get_container_recipe(containerRecipeArn=carn)["containerRecipe"]
assert c["dockerfileTemplateData"] == TEMPLATE and c["encrypted"] is True and c["kmsKeyId"] == "alias/containers", c
assert c["instanceConfiguration"] == {"image": "ami-0123456789abcdef0", "blockDeviceMappings": bdm[:1]}, c
summaries = ib.list_container_recipes(filters=[{"name": "platform", "values": ["Linux"]}])["containerRecipeSummaryList"]
assert [s["arn"] for s in summaries] == [carn], summaries
ok("container recipe round trip and list")

e = expect_error("InvalidParameterValueException", ib.create_container_recipe, containerType="DOCKER", name="boto-bad",
                 semanticVersion="1.0.0", components=components, parentImage="alpine",
                 dockerfileTemplateData=TEMPLATE + "{{{ imagebuilder:nope }}}\n",
                 targetRepository={"service": "ECR", "repositoryName": "boto/app"})
assert "imagebuilder:nope" in str(e), e
expect_error("InvalidRequestException", ib.create_container_recipe, containerType="DOCKER", name="boto-bad",
             semanticVersion="1.0.0", components=components, parentImage="alpine",
             targetRepository={"service": "ECR", "repositoryName": "boto/app"})
ok("container recipe validation errors")

expect_error("ResourceDependencyException", ib.delete_component, componentBuildVersionArn=comp)
assert ib.delete_container_recipe(containerRecipeArn=carn)["containerRecipeArn"] == carn
assert ib.delete_image_recipe(imageRecipeArn=arn)["imageRecipeArn"] == arn
ib.delete_component(componentBuildVersionArn=comp)
ok("deletes in dependency order")

smokelib.done()
