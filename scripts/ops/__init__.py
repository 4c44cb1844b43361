"""The plumbing behind the project's scripts, one concern per module.

Entry points in ``scripts/*.py`` parse arguments and call into this package; everything they
share lives here, so the same failure reads the same way in every script: one ``error:`` line
on stderr, a non-zero exit, no traceback (:mod:`scripts.ops.errors`).

* :mod:`~scripts.ops.errors`   ``ScriptError``, exit codes, ``run_script``/``die``, CI outputs
* :mod:`~scripts.ops.retry`    bounded retry of transient failures (tenacity), with jitter
* :mod:`~scripts.ops.aws`      boto3 sessions and clients, credential checks that name the cause
* :mod:`~scripts.ops.ecr`      ECR repository reconciliation and registry tokens
* :mod:`~scripts.ops.engine`   the Docker engine: reachability, platforms, QEMU emulation
* :mod:`~scripts.ops.build`    image builds and the Dockerfile's build args
* :mod:`~scripts.ops.registry` registry login and pushes (stream errors, retries)
* :mod:`~scripts.ops.tags`     local image tags a run sets and undoes on failure
* :mod:`~scripts.ops.git`      image tags from git
* :mod:`~scripts.ops.output`   progress bars on a terminal, plain lines in CI logs
* :mod:`~scripts.ops.downloads` HTTP downloads, existence checks and published checksums
* :mod:`~scripts.ops.settings` CDK context arguments and the settings files the deploy reads
* :mod:`~scripts.ops.pinning`  what the deploy downloads and pinning its SHA-512s
* :mod:`~scripts.ops.bootstrap` the CDK bootstrap version, and running the pinned ``cdk bootstrap``
* :mod:`~scripts.ops.preflight` every check before ``make deploy`` at once, then the first-run steps
* :mod:`~scripts.ops.service`  waiting for the ECS service to be stable, with progress
* :mod:`~scripts.ops.deployed` the stack's outputs and the next steps printed after a deploy
* :mod:`~scripts.ops.push`     the ``make push-image`` flow
* :mod:`~scripts.ops.cost`     ``make cost``: the monthly bill from the settings and unit prices
* :mod:`~scripts.ops.prices`   unit prices: the shipped table, the Price List API, and which to use
* :mod:`~scripts.ops.status`   ``make status``: the deployed stack on one screen, healthy or why not

Never use the boto3 ``pinpoint`` client: that is Amazon Pinpoint, an unrelated service.
"""
