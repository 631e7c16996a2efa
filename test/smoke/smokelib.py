"""Shared by the boto3 smoke scripts: Image Builder clients for a running
kiln and the helpers that count and print what passed ("ok N - what",
then "N passed, 0 failed"). A failure raises, which exits non-zero."""
import boto3
import botocore.exceptions
import botocore.session

passed = 0


def client(endpoint, data_path=None):
    """An imagebuilder client for kiln at endpoint. data_path, when given,
    is an AWS_DATA_PATH directory whose model replaces botocore's own."""
    session = botocore.session.get_session()
    if data_path:
        session.set_config_variable("data_path", data_path)
    return boto3.Session(botocore_session=session).client(
        "imagebuilder", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDBOTO", aws_secret_access_key="boto-secret",
    )


def ok(what):
    global passed
    passed += 1
    print(f"ok {passed} - {what}")


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def done():
    print(f"{passed} passed, 0 failed")
