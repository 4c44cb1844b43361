#!/usr/bin/env python3
"""CDK entry point: validated config in, platform stack out (see stacks/config/)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks.config import CONFIG_DIR, ConfigError, config_from_app_context, resolve_environment
from stacks.nag import enable_nag
from stacks.pinpoint_stack import PinpointStack

STACK_ID = "PinpointOnFargate"


def create_app(
    context: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_dir: Path = CONFIG_DIR,
    outdir: str | None = None,
) -> tuple[App, PinpointStack]:
    """The app with its one stack and cdk-nag; raises ConfigError for settings that conflict.

    ``stack_traces=False``: in a Python app every recorded stack trace points into jsii's
    bundled kernel, never at our code, and the CDK CLI prints the first such frame above each
    warning as its "location" (the stray ``/tmp/tmpXXXX/lib/program.js:1:5591`` line).
    """
    app = App(context=dict(context) if context is not None else None, stack_traces=False, outdir=outdir)
    config = resolve_environment(config_from_app_context(app.node, config_dir), environ)
    stack = PinpointStack(app, STACK_ID, config=config)
    enable_nag(app)
    return app, stack


def main(context: Mapping[str, Any] | None = None, config_dir: Path = CONFIG_DIR) -> None:
    """``cdk synth``'s entry; context comes from the CLI (CDK_CONTEXT_JSON) unless given."""
    try:
        app, _ = create_app(context, config_dir=config_dir)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        # The findings were printed above; skip the jsii stack trace.
        print(
            "cdk-nag: unacknowledged findings (listed above); see cdk.out/validation-report.json",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
