"""A function's environment as its construct synthesizes it, for the handler tests.

Handler tests never set an environment by hand: ``use(monkeypatch, function, **values)`` sets exactly the variables
the example stack's template gives ``function`` (``<construct module>.<function>``; several functions: all of their
variables, for a test that runs them together) and clears every other variable of the contract. A value that is a CloudFormation reference (a bucket name, a role ARN) must be given in
``values``, under the variable's name; a literal from the template may be given too, to test another setting. A value
given for a variable the template does not set fails: so a variable renamed on either side of the contract fails
the handler's tests, not a deployment.
"""

from __future__ import annotations

from typing import Optional

from shared.contract import ENVIRONMENT_VARIABLES

# References every test resolves alike unless it gives its own value: where UserErasure keeps the users it erased,
# which every export reads (in the fakes' data bucket; absent until a test erases someone).
SHARED_REFERENCES = {"ERASED_USERS_URI": "s3://segmentation-data/erasure/_erased/users.csv"}  # environment.BUCKET


def _template() -> dict:
    """The example stack's template (``tests/fakes/example.py``): every function and variable."""
    from tests.fakes import example

    return example.template_json()


def template_variables(function: str, template: Optional[dict] = None) -> dict:
    """The ``Environment.Variables`` of ``function`` in ``template`` (the example stack's if None), as synthesized."""
    found = [r["Properties"].get("Environment", {}).get("Variables", {})
             for r in (template or _template())["Resources"].values()
             if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == f"{function}.handler.handler"]
    if len(found) != 1:
        raise AssertionError(f"{function}: {len(found)} functions with handler {function}.handler.handler in the "
                             "template")
    return found[0]


def functions_of(template: dict) -> list[str]:
    """The library's functions in ``template`` (``<construct module>.<function>``)."""
    return sorted(r["Properties"]["Handler"].removesuffix(".handler.handler") for r in template["Resources"].values()
                  if r["Type"] == "AWS::Lambda::Function"
                  and r["Properties"].get("Handler", "").count(".") == 3
                  and r["Properties"]["Handler"].endswith(".handler.handler"))


def environment(*functions: str, template: Optional[dict] = None, **values: Optional[str]) -> dict[str, str]:
    """The ``functions``' variables (none named: every function's) in ``template`` (the example stack's if None):
    literals from the template, references from ``values``. A value of None leaves a variable out (a test of what a
    function does without it)."""
    functions = functions or tuple(functions_of(template or _template()))
    variables = {name: value for f in functions for name, value in template_variables(f, template).items()}
    unknown = sorted(set(values) - set(variables))
    if unknown:
        raise AssertionError(f"{', '.join(functions)}: the constructs set no {', '.join(unknown)} (they set "
                             f"{', '.join(sorted(variables))})")
    resolved = {}
    for name, value in variables.items():
        if name in values:
            value = values[name]
        elif not isinstance(value, str) and name in SHARED_REFERENCES:
            value = SHARED_REFERENCES[name]
        elif not isinstance(value, str):
            raise AssertionError(f"{', '.join(functions)}: {name} is {value} in the template; give the test's value "
                                 f"as {name}=...")
        if value is not None:
            resolved[name] = value
    return resolved


def use(monkeypatch, *functions: str, template: Optional[dict] = None, **values: Optional[str]) -> dict[str, str]:
    """Set the ``functions``' environment (see ``environment``), and only that; returns it."""
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    resolved = environment(*functions, template=template, **values)
    for name, value in resolved.items():
        monkeypatch.setenv(name, value)
    return resolved
