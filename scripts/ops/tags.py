"""Local image tags a run sets, and undoing them when the run fails."""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from scripts.ops.errors import ScriptError


def remove_tag(client: docker.DockerClient, reference: str) -> bool:
    """Untag ``reference`` locally, keeping build-cache parents; True if it existed."""
    try:
        client.images.remove(reference, noprune=True)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError:
        # In use by a container, or already gone: the run's outcome does not depend on it.
        return False
    return True


def split_reference(reference: str) -> tuple[str, str]:
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``); the tag is required."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"image reference without a tag: {reference!r}")
    return repository, tag


class LocalTags:
    """Local tags set by one run, undone if the run fails, so nothing is left half-tagged.

    ``claim`` records what a reference pointed at before (if anything) and must be called
    before the build or tag that moves it; ``rollback`` restores those images (or removes the
    tags that did not exist); ``commit`` keeps everything claimed so far.
    """

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._claimed: list[tuple[str, str | None]] = []

    def claim(self, reference: str) -> None:
        try:
            previous: str | None = self._client.images.get(reference).id
        except docker.errors.ImageNotFound:
            previous = None
        self._claimed.append((reference, previous))

    def tag(self, image_id: str, reference: str) -> None:
        self.claim(reference)
        repository, tag = split_reference(reference)
        if not self._client.api.tag(image_id, repository, tag, force=True):
            raise ScriptError(f"the engine refused to tag {image_id[:19]} as {reference}")

    def commit(self) -> None:
        self._claimed.clear()

    def rollback(self) -> list[str]:
        """Undo every claim (newest first); return the references that were touched."""
        undone = []
        for reference, previous in reversed(self._claimed):
            if previous is None:
                remove_tag(self._client, reference)
            else:
                repository, tag = split_reference(reference)
                with contextlib.suppress(docker.errors.APIError):
                    self._client.api.tag(previous, repository, tag, force=True)
            undone.append(reference)
        self._claimed.clear()
        return undone
