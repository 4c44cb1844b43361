#!/usr/bin/env python3
"""CDK entry point: validated config in, platform stack out (see stacks/config.py)."""

from __future__ import annotations

import sys

from aws_cdk import App

from stacks.config import ConfigError, config_from_app_context, resolve_environment
from stacks.nag import enable_nag
from stacks.pinpoint_stack import PinpointStack


def main() -> None:
    app = App()
    try:
        config = resolve_environment(config_from_app_context(app.node))
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    PinpointStack(app, "PinpointOnFargate", config=config)
    enable_nag(app)
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
