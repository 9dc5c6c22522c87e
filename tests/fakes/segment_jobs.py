"""Finished batch segment jobs for the post-processor's tests: output files, events, the workflow's order of calls."""

from __future__ import annotations

import csv
import io
import json

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from shared import audiences
from tests.fakes.environment import BUCKET
from tests.fakes.personalize import ACCOUNT, REGION

OUTPUT_PREFIX = "batch/bingewatch/genre-affinity/genre-segments-1a2b3c4d/output/"

ACTION = {"input": {"itemAttributes": 'ITEMS.GENRES = "Action"'}, "output": {"recommendedUsers": ["u1", "u2", "u3"]}}
COMEDY = {"itemAttributes": 'ITEMS.GENRES = "Comedy"', "output": {"usersList": ["u4", "u,5", "u4"]}}


def segment_job(aws, lines: dict[str, list[dict]], name: str = "genre-segments-1a2b3c4d") -> str:
    """A finished batch segment job whose output files hold ``lines`` (file name -> JSON lines)."""
    client = aws.personalize.client
    solution = client.create_solution(name="genre-affinity", datasetGroupArn=f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/g",
                                      recipeArn="arn:aws:personalize:::recipe/aws-item-attribute-affinity")
    version = client.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    arn = client.create_batch_segment_job(
        jobName=name, solutionVersionArn=version, roleArn=f"arn:aws:iam::{ACCOUNT}:role/p", numResults=1000,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch/job_config.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/{OUTPUT_PREFIX}"}})["batchSegmentJobArn"]
    aws.personalize.set_status(arn, "ACTIVE")
    for file_name, rows in lines.items():
        body = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
        aws.s3.put_object(Bucket=BUCKET, Key=OUTPUT_PREFIX + file_name, Body=body.encode())
    aws.s3.put_object(Bucket=BUCKET, Key=OUTPUT_PREFIX + "_SUCCESS", Body=b"")
    return arn


def job_event(arn: str) -> dict:
    return {"source": "solutions.aws.personalize", "detail-type": "Personalize Batch Segment Job State Change",
            "resources": [arn], "detail": {"Arn": arn, "Status": "ACTIVE", "Duration": 12.5}}


def export(event: dict) -> dict:
    """The workflow's order: plan, every line (as the Distributed Map would), publish."""
    plan = plan_handler.handler(event, None)
    if plan["skip"]:
        return plan
    items = json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read())
    for item in items:
        export_handler.handler(item, None)
    return {**plan, "published": publish_handler.handler(plan, None)}


def read_audience(aws, key: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())))
    assert rows[0] == ["User.UserId"]
    return [r[0] for r in rows[1:]]


def manifest(aws, job="genre-segments-1a2b3c4d") -> dict:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"audiences/{job}/manifest.json")["Body"].read())
