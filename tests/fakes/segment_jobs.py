"""Finished batch segment jobs for the post-processor's tests: output files, events, the workflow's order of calls."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Callable, Union

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from shared import audiences
from tests.fakes.environment import BUCKET
from tests.fakes.personalize import ACCOUNT, REGION
from tests.fakes.workflow import service_side

OUTPUT_PREFIX = "batch/bingewatch/genre-affinity/genre-segments-1a2b3c4d/output/"

ACTION = {"input": {"itemAttributes": 'ITEMS.GENRES = "Action"'}, "output": {"recommendedUsers": ["u1", "u2", "u3"]}}
COMEDY = {"itemAttributes": 'ITEMS.GENRES = "Comedy"', "output": {"usersList": ["u4", "u,5", "u4"]}}


def segment_job(aws, lines: dict[str, list[dict]], name: str = "genre-segments-1a2b3c4d", *, bom: bool = False,
                solution: str = "genre-affinity", output_prefix: str = OUTPUT_PREFIX) -> str:
    """A finished batch segment job of a new version of ``solution`` whose output files, under ``output_prefix``,
    hold ``lines`` (file name -> JSON lines); with ``bom``, each file starts with a UTF-8 byte-order mark."""
    client = aws.personalize.client
    solution_arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/{solution}"
    if solution_arn not in aws.personalize.resources:
        client.create_solution(name=solution, datasetGroupArn=f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/g",
                               recipeArn="arn:aws:personalize:::recipe/aws-item-attribute-affinity")
    version = client.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    arn = client.create_batch_segment_job(
        jobName=name, solutionVersionArn=version, roleArn=f"arn:aws:iam::{ACCOUNT}:role/p", numResults=1000,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch/job_config.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/{output_prefix}"}})["batchSegmentJobArn"]
    aws.personalize.set_status(arn, "ACTIVE")
    for file_name, rows in lines.items():
        body = ("\ufeff" if bom else "") + "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
        aws.s3.put_object(Bucket=BUCKET, Key=output_prefix + file_name, Body=body.encode())
    aws.s3.put_object(Bucket=BUCKET, Key=output_prefix + "_SUCCESS", Body=b"")
    return arn


def job_event(arn: str) -> dict:
    return {"source": "solutions.aws.personalize", "detail-type": "Personalize Batch Segment Job State Change",
            "resources": [arn], "detail": {"Arn": arn, "Status": "ACTIVE", "Duration": 12.5}}


def export(event: dict, *, reverse: bool = False) -> dict:
    """The workflow's order: plan, every line (as the Distributed Map would; ``reverse``: the last line first, as
    concurrent exports may finish), publish."""
    plan = plan_handler.handler(event, None)
    if plan["skip"]:
        return plan
    items = json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read())
    for item in reversed(items) if reverse else items:
        export_handler.handler(item, None)
    return {**plan, "published": publish_handler.handler(plan, None)}


def read_audience(aws, key: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())))
    assert rows[0] == ["User.UserId"]
    return [r[0] for r in rows[1:]]


def manifest(aws, job="genre-segments-1a2b3c4d") -> dict:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"audiences/{job}/manifest.json")["Body"].read())


def write_output_when_active(aws, users: Union[list[str], Callable[[dict], list[str]]], *,
                             sizes: tuple[int, int] = (20, 60)) -> list[str]:
    """Make ``aws.personalize`` write each batch segment job's output when a describe finds it ACTIVE, as Personalize
    does: under the job's output path, ``<input file name>.out`` with one line per query of its input (JSON lines),
    then ``_SUCCESS``. A query's users are drawn from ``users`` (or ``users(job)``, the users the job's solution
    version was trained on) by a hash of the query (between ``sizes`` of them, ranked by that hash), so a rerun of the
    same job writes the same output. Returns the keys written, as they are."""
    written: list[str] = []

    def write(kind: str, job: dict) -> None:
        if kind != "BatchSegmentJob":
            return
        pool = users(job) if callable(users) else users
        in_bucket, _, in_key = job["jobInput"]["s3DataSource"]["path"].removeprefix("s3://").partition("/")
        out_bucket, _, prefix = job["jobOutput"]["s3DataDestination"]["path"].removeprefix("s3://").partition("/")
        with service_side():
            body = aws.s3.get_object(Bucket=in_bucket, Key=in_key)["Body"].read().decode()
        queries = [json.loads(line) for line in body.splitlines() if line.strip()]
        lines = []
        for query in queries:
            seed = json.dumps(query, sort_keys=True)
            ranked = sorted(pool, key=lambda user: hashlib.sha256(f"{seed}\0{user}".encode()).digest())
            size = sizes[0] + int(hashlib.sha256(seed.encode()).hexdigest(), 16) % (sizes[1] - sizes[0] + 1)
            lines.append(json.dumps({"input": query, "output": {"usersList": ranked[:size]}, "error": None}))
        key = f"{prefix}{in_key.rsplit('/', 1)[-1]}.out"
        with service_side():
            aws.s3.put_object(Bucket=out_bucket, Key=key, Body="".join(line + "\n" for line in lines).encode())
            aws.s3.put_object(Bucket=out_bucket, Key=f"{prefix}_SUCCESS", Body=b"")
        written.append(key)

    aws.personalize.on_active.append(write)
    return written
