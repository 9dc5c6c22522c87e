"""The example stack (Connect destination) run whole in moto: its three workflows in moto's interpreter, their handlers
in-process (``tests/fakes/workflow.py``), Personalize and Customer Profiles answered by the fakes, and the events they
put carried by the test as the stack's rules would deliver them (``delivered_by``: the rule's pattern and input
transformer as synthesized). FakePersonalize writes a job's output when the job becomes ACTIVE, its users drawn from
``ExampleApp.users`` (``write_output_when_active``). Used by the fault-injection test and the simulated month.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime as dt
import io
import json
import random
from typing import Iterator, Optional

import boto3

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from connect_segment_importer.importer import handler as connect_handler
from shared import aws as lambda_clients
from shared.contract import (AUDIENCE_SOURCE, BATCH_SEGMENT_JOB_STATE_CHANGE, RELEASE_REQUESTED, SEGMENT_READY,
                             Env)
from tests.fakes import function_environment
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, DATA, ROLE_ARN, SCHEDULER_ROLE_ARN, fake_aws
from tests.fakes.segment_jobs import write_output_when_active
from tests.fakes.templates import delivered, matches
from tests.fakes.workflow import (ACCOUNT, MOTO_CONFIG, REGION, LambdaRouter, function_names, history, lambda_arn,
                                  logical_id, render_definition, service_side, start_execution, wait_for)
from training_pipeline.ensure_resource import handler as ensure_handler
from training_pipeline.schedule_runs import handler as schedule_handler
from training_pipeline.validate_config import handler as validate_handler
from user_erasure.destinations import handler as destinations_handler
from user_erasure.personalize import handler as personalize_handler
from user_erasure.request import handler as request_handler
from user_erasure.scrub import handler as scrub_handler

DOMAIN = "audiences-domain"
EXECUTION_TIMEOUT = 60.0


def sample_users() -> list[str]:
    with (DATA / "train/bingewatch/users.csv").open() as f:
        return [row["USER_ID"] for row in csv.DictReader(f)]


def resolved(value, names: dict):
    """A template value (a rule's pattern) with its Refs replaced by the fake resources' names."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return names[value["Ref"]]
        return {k: resolved(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, names) for v in value]
    return value



class ExampleApp:
    """The example stack's workflows in moto with their handlers routed, driven by the events they put (as
    their rules deliver them)."""

    def __init__(self, template: dict, monkeypatch, aws) -> None:
        self.template, self.aws = template, aws
        ids = {kind: logical_id(template, "AWS::StepFunctions::StateMachine", part) for kind, part in
               (("training", "TrainingWorkflow"), ("export", "AudiencesWorkflow"), ("import", "ConnectWorkflow"),
                ("erasure", "ErasureWorkflow"))}
        bus_id = logical_id(template, "AWS::Events::EventBus", "EventBus")
        self.names = {**function_names(template), bus_id: aws.bus_name, f"{bus_id}.Arn": aws.bus_arn,
                      logical_id(template, "AWS::SNS::Topic", "Topic"): aws.topic_arn,
                      logical_id(template, "AWS::S3::Bucket", "DataBucket"): BUCKET,
                      logical_id(template, "AWS::CustomerProfiles::Domain", "Domain"): DOMAIN}
        function_environment.use(monkeypatch, *function_environment.functions_of(template), template=template,
                                 EVENT_BUS_NAME=aws.bus_name, PERSONALIZE_ROLE_ARN=ROLE_ARN, AUDIENCE_BUCKET=BUCKET,
                                 SOURCE_BUCKET=BUCKET, DOMAIN_NAME=DOMAIN, SCHEDULER_ROLE_ARN=SCHEDULER_ROLE_ARN,
                                 DEAD_LETTER_QUEUE_ARN=f"arn:aws:sqs:{REGION}:{ACCOUNT}:training-dead-letters")
        aws.personalize.steps_to_active = 0
        self.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
        self.router = LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", part)): handler for part, handler in (
                ("ValidateConfig", validate_handler.handler), ("EnsureResource", ensure_handler.handler),
                ("AudiencesPlan", plan_handler.handler), ("AudiencesExport", export_handler.handler),
                ("AudiencesPublish", publish_handler.handler), ("ConnectImporter", connect_handler.handler),
                ("ScheduleRuns", schedule_handler.handler), ("ErasureRequest", request_handler.handler),
                ("ErasurePersonalize", personalize_handler.handler), ("ErasureScrub", scrub_handler.handler),
                ("ErasureDestinations", destinations_handler.handler))})
        sfn = boto3.client("stepfunctions", region_name=REGION)

        class Machines(dict):  # each created when first started
            def __missing__(machines, kind):
                machines[kind] = sfn.create_state_machine(
                    name=kind, definition=render_definition(template, self.names, machine_id=ids[kind]),
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/workflow")["stateMachineArn"]
                return machines[kind]

        self.machines = Machines()
        # The users in the data (a test may change them between runs), and those each solution version was trained
        # on: a batch segment job draws its users from its version's, as Personalize builds segments from the data
        # of the version's training.
        self.users = sample_users()
        self.trained: dict[str, list[str]] = {}
        aws.personalize.on_active.append(self._train)
        self.outputs = write_output_when_active(aws, lambda job: self.trained[job["solutionVersionArn"]])
        self.schedule_group = function_environment.template_variables(
            "training_pipeline.schedule_runs", template)[Env.SCHEDULE_GROUP]
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.scheduler.create_schedule_group(Name=self.schedule_group)
        self.counted: collections.Counter = collections.Counter()
        self.events: list[dict] = []
        self.executions: list[dict] = []
        self.deliveries: collections.Counter = collections.Counter()
        self.matched: dict[str, bool] = {}

    def _train(self, kind: str, resource: dict) -> None:
        """A version is trained on the users in the data then, but those a data deletion job deleted from its
        dataset group (Personalize's datasets no longer hold them); an import of a CSV that holds a deleted user
        brings that user back, as it would in Personalize."""
        personalize = self.aws.personalize
        if kind == "DatasetImportJob" and any(personalize.deleted_users.values()):  # else none to re-add
            group = resource["datasetArn"].replace(":dataset/", ":dataset-group/").rsplit("/", 1)[0]
            bucket, _, key = resource["dataSource"]["dataLocation"].removeprefix("s3://").partition("/")
            with service_side():
                rows = csv.DictReader(io.StringIO(
                    self.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")))
                personalize.deleted_users[group] -= {row["USER_ID"] for row in rows if row.get("USER_ID")}
        if kind == "SolutionVersion":
            solution = personalize.resources[resource["solutionArn"]]
            deleted = personalize.deleted_users[solution["datasetGroupArn"]]
            self.trained[resource["solutionVersionArn"]] = [u for u in self.users if u not in deleted]

    # -------------------------------------------------------- carrying events

    def rule(self, part: str) -> dict:
        (rule,) = [r for lid, r in self.template["Resources"].items()
                   if r["Type"] == "AWS::Events::Rule" and part in lid]
        return resolved(rule["Properties"]["EventPattern"], self.names)

    def delivered_by(self, part: str, events: list[dict]) -> list[dict]:
        """What the rule ``part`` hands its workflow for each of ``events`` it matches (``templates.matches``: moto's
        matcher), in order."""
        pattern, chosen = self.rule(part), []
        for event in events:
            key = json.dumps([part, event], sort_keys=True)
            if key not in self.matched:
                self.matched[key] = matches(pattern, event)
                sqs = self.aws.sqs  # matches() leaves its queue behind: a later check must not read this one's event
                sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="matched")["QueueUrl"])
            if self.matched[key]:
                chosen.append(delivered(self.template, part, event))
        return chosen

    def drain(self) -> list[dict]:
        events = self.aws.events()
        self.events += events
        return events

    def deliver(self, kind: str, payloads: list[dict], rng: Optional[random.Random], label: str) -> None:
        """Start one execution per payload, all at once as EventBridge delivers them; with ``rng``, each payload twice:
        the second while the first runs, or after it ended."""
        started, later = [], []
        for payload in payloads:
            started.append((payload, label, start_execution(self.machines[kind], payload)))
            if rng is not None and rng.random() < 0.5:
                started.append((payload, "duplicate (concurrent)", start_execution(self.machines[kind], payload)))
            elif rng is not None:
                later.append(payload)
        self.collect(kind, started)
        self.collect(kind, [(p, "duplicate (after)", start_execution(self.machines[kind], p)) for p in later])

    def collect(self, kind: str, started: list) -> None:
        for payload, delivery, arn in started:
            described = wait_for(arn, timeout=EXECUTION_TIMEOUT)
            events = history(arn)
            entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
            failures = [d for e in events for k, d in e.items()
                        if k.endswith("FailedEventDetails") and isinstance(d, dict) and "error" in d]
            retried = [d["error"] for d in failures]
            caught = [d for d in failures if d["error"] != described.get("error")]  # the error the Catch caught
            self.executions.append({"kind": kind, "arn": arn, "delivery": delivery, "payload": payload,
                                    "status": described["status"], "error": described.get("error"),
                                    "cause": described.get("cause"), "end": entered[-1] if entered else None,
                                    "failed attempts": retried,
                                    "caught": caught[-1] if caught else {}})
            self.deliveries[(kind, delivery)] += 1

    # -------------------------------------------------------- what starts work, carried through

    def schedules(self) -> dict[str, dict]:
        """The schedules in the training pipeline's schedule group (moto's EventBridge Scheduler), by expression."""
        listed = self.scheduler.list_schedules(GroupName=self.schedule_group)["Schedules"]
        found = [self.scheduler.get_schedule(Name=s["Name"], GroupName=self.schedule_group) for s in listed]
        return {s["ScheduleExpression"]: s for s in found}

    def upload_config(self, key: str, config: dict) -> list[dict]:
        """Upload ``config`` at ``key`` and carry its run through (``settle``); the events put."""
        self.aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(config).encode())
        self.deliver("training", [{"bucket": BUCKET, "key": key}], None, "upload")
        return self.settle()

    def fire(self, expression: str, at: dt.datetime) -> list[dict]:
        """The schedule of ``expression`` fires at ``at``, as EventBridge Scheduler does (its target input as
        ScheduleRuns wrote it, the scheduled time filled in), on FakePersonalize's clock moved on to then; carried
        through (``settle``)."""
        self.aws.personalize.advance_to(at)
        schedule = self.schedules()[expression]
        assert schedule["Target"]["Arn"] == self.machines["training"]
        fired = schedule["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.deliver("training", [json.loads(fired)], None, f"schedule {expression}")
        return self.settle()

    def release(self, audience: str) -> list[dict]:
        """Someone releases the held refresh of ``audience``: the event, through its rule, to the publish function;
        carried through (``settle``)."""
        event = {"source": AUDIENCE_SOURCE, "detail-type": RELEASE_REQUESTED, "detail": {"audience": audience}}
        for payload in self.delivered_by("ReleaseRequested", [event]):
            publish_handler.handler(payload, None)
        return self.settle()

    def settle(self) -> list[dict]:
        """Carry the events the workflows put to the workflows the stack's rules start, until none is left; the
        events put. Every execution must have succeeded."""
        put = []
        while True:
            events = self.drain()
            put += events
            jobs = [e for e in events if e["detail-type"] == BATCH_SEGMENT_JOB_STATE_CHANGE]
            ready = [e for e in events if e["detail-type"] == SEGMENT_READY]
            if not jobs and not ready:
                break
            self.deliver("export", self.delivered_by("SegmentJobActive", jobs), None, "job event")
            self.deliver("import", self.delivered_by("ConnectAudienceReady", ready), None, "ready event")
        failed = [e for e in self.executions if e["status"] != "SUCCEEDED"]
        assert not failed, failed
        return put

    def function_of(self, function_arn: str) -> str:
        """The library function (``<construct module>.<function>``) a routed Lambda ARN runs."""
        logical = function_arn.rsplit(":", 1)[-1]
        return self.template["Resources"][logical]["Properties"]["Handler"].removesuffix(".handler.handler")

    def created(self) -> dict[str, int]:
        """The Personalize resources created since the last call, by kind."""
        now = collections.Counter(op.removeprefix("Create") for op, _ in self.aws.personalize.created())
        new = {kind: n - self.counted[kind] for kind, n in now.items() if n > self.counted[kind]}
        self.counted = now
        return new

    def objects(self, prefix: str) -> dict[str, bytes]:
        s3, found = self.aws.s3, {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for o in page.get("Contents", []):
                found[o["Key"]] = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        return found



def connect_example(context: dict) -> dict:
    """The example stack with its Connect destination, synthesized (tests/conftest.py's ``connect_example_text``)."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from segmentation_constructs.example_stack import SegmentationExampleStack

    app = cdk.App(context=context)
    return Template.from_stack(SegmentationExampleStack(app, "Segmentation", destinations=("connect",))).to_json()


@contextlib.contextmanager
def running(template: dict, monkeypatch, kind: type = ExampleApp) -> Iterator[ExampleApp]:
    """``kind`` (an ExampleApp) of ``template`` over fresh fakes; its upload server closed after."""
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="segmentation-events") as aws:
        app = kind(template, monkeypatch, aws)
        try:
            yield app
        finally:
            app.profiles.uploads.close()
