"""A boto3 client for the local server (moto serves DynamoDB, SNS and SQS on one endpoint):
dummy credentials, and the region from AWS_DEFAULT_REGION (default us-east-1). Imported by the
scripts next to it (a script's own folder is on Python's import path)."""

import os


def client(service, endpoint):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
