"""The one progress event type (core.progress)."""

from __future__ import annotations

import pytest

from rnnbench.core.progress import ProgressEvent


def test_round_trips_through_json_without_its_subject() -> None:
    event = ProgressEvent("done", label="gru/native T=8", status="ok", values={"row": {"median_s": 0.5}},
                          subject=object())  # fmt: skip
    back = ProgressEvent.from_json(event.to_json())
    assert back == event and back.subject is None and back.values["row"]["median_s"] == 0.5


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown progress event kind 'finished'"):
        ProgressEvent("finished")
