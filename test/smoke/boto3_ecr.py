"""Debian's boto3 against kiln's ECR API, under --auth strict with alice
and bob: repositories, pagination, tags, policies, tag mutability, login
tokens, and bob kept out of alice's repository.

usage: boto3_ecr.py ENDPOINT"""
import base64
import datetime
import sys

import boto3

from smokelib import done, expect_error, ok

endpoint = sys.argv[1]


def ecr(key, secret):
    return boto3.client("ecr", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


alice = ecr("AKIDALICE", "alice-secret")
bob = ecr("AKIDBOB", "bob-secret")

for name in ["b3/one", "b3/two", "b3/three", "b3/four", "b3/five"]:
    repo = alice.create_repository(repositoryName=name, tags=[{"Key": "team", "Value": "core"}])["repository"]
    assert repo["registryId"] == "111111111111", repo
    assert repo["repositoryArn"] == "arn:aws:ecr:us-east-1:111111111111:repository/" + name, repo
    assert isinstance(repo["createdAt"], datetime.datetime), repo
ok("create_repository x5")

pages = alice.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
names = [r["repositoryName"] for page in pages for r in page["repositories"]]
assert names == sorted(["b3/one", "b3/two", "b3/three", "b3/four", "b3/five"]), names
ok("describe_repositories paginated two at a time")

expect_error("RepositoryAlreadyExistsException", alice.create_repository, repositoryName="b3/one")
expect_error("RepositoryAlreadyExistsException", bob.create_repository, repositoryName="b3/one")
expect_error("InvalidParameterException", alice.create_repository, repositoryName="B3/Upper")
expect_error("RepositoryNotFoundException", alice.describe_repositories, repositoryNames=["b3/none"])
ok("create and describe errors")

assert bob.describe_repositories()["repositories"] == []
expect_error("RepositoryNotFoundException", bob.describe_repositories, repositoryNames=["b3/one"])
expect_error("RepositoryNotFoundException", bob.list_images, repositoryName="b3/one")
expect_error("RepositoryNotFoundException", bob.delete_repository, repositoryName="b3/one", force=True)
expect_error("RepositoryNotFoundException", bob.set_repository_policy, repositoryName="b3/one",
             policyText='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}')
ok("bob neither sees nor changes alice's repositories")

arn = "arn:aws:ecr:us-east-1:111111111111:repository/b3/one"
alice.tag_resource(resourceArn=arn, tags=[{"Key": "env", "Value": "dev"}])
alice.untag_resource(resourceArn=arn, tagKeys=["team"])
assert alice.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "env", "Value": "dev"}]
expect_error("InvalidTagParameterException", alice.tag_resource, resourceArn=arn, tags=[{"Key": "aws:x", "Value": "y"}])
ok("tag_resource, untag_resource, list_tags_for_resource")

policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:DescribeRepositories"]}]}'
alice.set_repository_policy(repositoryName="b3/one", policyText=policy)
assert alice.get_repository_policy(repositoryName="b3/one")["policyText"] == policy
assert bob.describe_repositories(repositoryNames=["b3/one"])["repositories"][0]["registryId"] == "111111111111"
expect_error("AccessDeniedException", bob.delete_repository, repositoryName="b3/one", force=True)
alice.delete_repository_policy(repositoryName="b3/one")
expect_error("RepositoryPolicyNotFoundException", alice.get_repository_policy, repositoryName="b3/one")
ok("repository policies share with bob and stop sharing")

out = alice.put_image_tag_mutability(repositoryName="b3/two", imageTagMutability="IMMUTABLE")
assert out["imageTagMutability"] == "IMMUTABLE", out
expect_error("InvalidParameterException", alice.put_image_tag_mutability, repositoryName="b3/two", imageTagMutability="NEVER")
ok("put_image_tag_mutability")

data = alice.get_authorization_token()["authorizationData"][0]
user, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
assert user == "AWS" and token, data
left = data["expiresAt"] - datetime.datetime.now(datetime.timezone.utc)
assert datetime.timedelta(hours=11) < left <= datetime.timedelta(hours=12), left
ok("get_authorization_token: AWS:token for 12 hours")

assert alice.list_images(repositoryName="b3/three")["imageIds"] == []
assert alice.describe_images(repositoryName="b3/three")["imageDetails"] == []
expect_error("ImageNotFoundException", alice.describe_images, repositoryName="b3/three", imageIds=[{"imageTag": "x"}])
got = alice.batch_get_image(repositoryName="b3/three", imageIds=[{"imageTag": "x"}])
assert got["images"] == [] and got["failures"][0]["failureCode"] == "ImageNotFound", got
ok("image listings of an empty repository")

for name in ["b3/one", "b3/two", "b3/three", "b3/four", "b3/five"]:
    alice.delete_repository(repositoryName=name)
assert alice.describe_repositories()["repositories"] == []
ok("delete_repository x5")
done()
