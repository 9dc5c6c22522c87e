"""A fake AWS for the training Lambdas and workflow: moto S3/EventBridge/SNS/SQS plus FakePersonalize.

Events on the bus and messages on the topic are captured in SQS queues so a
test reads what a subscriber would receive.
"""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path
from typing import Iterator, Optional

import boto3
from moto import mock_aws

from shared import aws as lambda_clients
from tests.fakes import function_environment
from tests.fakes.personalize import ACCOUNT, REGION, FakePersonalize

DATA = Path(__file__).resolve().parents[2] / "data"
BUCKET = "segmentation-data"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/personalize"
TRAINING_FUNCTIONS = ("training_pipeline.validate_config", "training_pipeline.ensure_resource",
                      "training_pipeline.schedule_runs")
SCHEDULE_GROUP = "training-schedules"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/scheduler"


@functools.lru_cache(maxsize=None)
def shared_client(service: str):
    """The tests' own client for ``service``, made once per process: a client holds no AWS state (moto's backends do,
    new in every ``fake_aws``). No test registers handlers on these: the fakes register theirs on the handlers'
    clients, new in every test."""
    return boto3.client(service, region_name=REGION)


class FakeAws:
    def __init__(self, monkeypatch, *, bus_name: str, topic_name: str) -> None:
        self.s3 = shared_client("s3")
        self.sqs = shared_client("sqs")
        self.events_client = shared_client("events")
        self.sns = shared_client("sns")
        self.s3.create_bucket(Bucket=BUCKET)
        self.bus_arn = self.events_client.create_event_bus(Name=bus_name)["EventBusArn"]
        self.bus_name = bus_name
        self._events_queue = self._queue("events")
        self.events_client.put_rule(Name="capture", EventBusName=bus_name,
                                    EventPattern=json.dumps({"source": ["solutions.aws.personalize", "segmentation.audiences",
                                                                        "segmentation.erasure"]}))
        self.events_client.put_targets(Rule="capture", EventBusName=bus_name,
                                       Targets=[{"Id": "q", "Arn": self._arn(self._events_queue)}])
        self.topic_arn = self.sns.create_topic(Name=topic_name)["TopicArn"]
        self._topic_queue = self._queue("notifications")
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self._arn(self._topic_queue),
                           Attributes={"RawMessageDelivery": "false"})
        # the training functions' environment as synthesized, this fake's bus and role in place of the references
        self.training_environment = functools.partial(
            function_environment.use, monkeypatch, *TRAINING_FUNCTIONS, EVENT_BUS_NAME=bus_name,
            PERSONALIZE_ROLE_ARN=ROLE_ARN, SCHEDULE_GROUP=SCHEDULE_GROUP, SCHEDULER_ROLE_ARN=SCHEDULER_ROLE_ARN,
            DEAD_LETTER_QUEUE_ARN=f"arn:aws:sqs:{REGION}:{ACCOUNT}:training-dead-letters")
        # Fresh handler clients inside this mock; the production Personalize client (its retry
        # config included) with the fake behind it.
        monkeypatch.setattr(lambda_clients, "_clients", {})
        self.personalize = FakePersonalize(lambda_clients.client("personalize"))

    def _queue(self, name: str) -> str:
        return self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def _arn(self, queue_url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def upload_sample(self, prefix: str = "train/bingewatch/", config: Optional[dict] = None) -> str:
        for path in sorted((DATA / "train/bingewatch").iterdir()):
            self.s3.upload_file(str(path), BUCKET, prefix + path.name)
        if config is not None:
            self.s3.put_object(Bucket=BUCKET, Key=prefix + "config.json", Body=json.dumps(config).encode())
        return prefix + "config.json"

    def _drain(self, queue_url: str) -> list[dict]:
        received = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def events(self) -> list[dict]:
        return self._drain(self._events_queue)

    def import_events(self) -> list[dict]:
        """The details of the ``Audience Import State Change`` events put since the last read."""
        return [e["detail"] for e in self.events() if e["detail-type"] == "Audience Import State Change"]

    def notifications(self) -> list[dict]:
        return [{"Subject": m.get("Subject"), "Message": m["Message"]} for m in self._drain(self._topic_queue)]


def moto_config(config: Optional[dict] = None) -> dict:
    """``config`` for moto, keeping boto3's default session across mocks: moto would drop it at every start, and a new
    session loads every service model again for each client made from it (a few tenths of a second per test). The
    session holds no AWS state and these credentials are fake ones (tests/conftest.py)."""
    from moto.core.config import default_user_config

    config = dict(config or {})
    config["core"] = {**default_user_config["core"], **config.get("core", {}), "reset_boto3_session": False}
    return config


@contextlib.contextmanager
def fake_aws(monkeypatch, *, config: Optional[dict] = None, bus_name: str = "training-events",
             topic_name: str = "training-notifications") -> Iterator[FakeAws]:
    with mock_aws(config=moto_config(config)):
        yield FakeAws(monkeypatch, bus_name=bus_name, topic_name=topic_name)
