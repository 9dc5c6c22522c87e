"""The example stack (Connect destination) run whole in moto: its three workflows in moto's interpreter, their handlers
in-process (``tests/fakes/workflow.py``), Personalize and Customer Profiles answered by the fakes, and the events they
put carried by the test as the stack's rules would deliver them (``delivered_by``: the rule's pattern and input
transformer as synthesized). FakePersonalize writes a job's output when the job becomes ACTIVE, its users drawn from
``ExampleApp.users`` (``write_output_when_active``). Used by the fault-injection test and the simulated month.
"""

from __future__ import annotations

import collections
import csv
import json
import random
from typing import Optional

import boto3

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from connect_segment_importer.importer import handler as connect_handler
from shared import aws as lambda_clients
from tests.fakes import function_environment
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, DATA, ROLE_ARN, SCHEDULER_ROLE_ARN
from tests.fakes.segment_jobs import write_output_when_active
from tests.fakes.templates import delivered, matches
from tests.fakes.workflow import (ACCOUNT, REGION, LambdaRouter, function_names, history, lambda_arn, logical_id,
                                  render_definition, start_execution, wait_for)
from training_pipeline.ensure_resource import handler as ensure_handler
from training_pipeline.schedule_runs import handler as schedule_handler
from training_pipeline.validate_config import handler as validate_handler

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
    """The example stack's three workflows in moto with their handlers routed, driven by the events they put (as
    their rules deliver them)."""

    def __init__(self, template: dict, monkeypatch, aws) -> None:
        self.template, self.aws = template, aws
        ids = {kind: logical_id(template, "AWS::StepFunctions::StateMachine", part) for kind, part in
               (("training", "TrainingWorkflow"), ("export", "AudiencesWorkflow"), ("import", "ConnectWorkflow"))}
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
                ("ScheduleRuns", schedule_handler.handler))})
        sfn = boto3.client("stepfunctions", region_name=REGION)

        class Machines(dict):  # each created when first started
            def __missing__(machines, kind):
                machines[kind] = sfn.create_state_machine(
                    name=kind, definition=render_definition(template, self.names, machine_id=ids[kind]),
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/workflow")["stateMachineArn"]
                return machines[kind]

        self.machines = Machines()
        self.users = sample_users()  # the users batch segment jobs draw from: a test may change it between runs
        self.outputs = write_output_when_active(aws, self.users)
        self.events: list[dict] = []
        self.executions: list[dict] = []
        self.deliveries: collections.Counter = collections.Counter()
        self.matched: dict[str, bool] = {}

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
            self.executions.append({"kind": kind, "delivery": delivery, "payload": payload,
                                    "status": described["status"], "error": described.get("error"),
                                    "cause": described.get("cause"), "end": entered[-1] if entered else None,
                                    "failed attempts": retried,
                                    "caught": caught[-1] if caught else {}})
            self.deliveries[(kind, delivery)] += 1

    def objects(self, prefix: str) -> dict[str, bytes]:
        s3, found = self.aws.s3, {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for o in page.get("Contents", []):
                found[o["Key"]] = s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        return found

