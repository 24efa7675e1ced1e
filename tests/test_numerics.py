"""The run's numeric policy (TF32 for float32 on NVIDIA GPUs): one switch for matmul and cuDNN together."""

from __future__ import annotations

import pytest
import torch

from rnnbench.core.spec import ModelConfig
from rnnbench.measure import numerics

pytestmark = pytest.mark.usefixtures("restore_tf32")


def test_torch_defaults_disagree_which_is_why_a_policy_exists() -> None:
    """Out of the box cuDNN may use TF32 while matmul may not: the mix the policy removes (issue 12, 2).
    Read in a fresh interpreter: this process's flags are whatever earlier tests left."""
    import subprocess
    import sys

    code = "from rnnbench.measure.numerics import tf32_flags; print(sorted(tf32_flags().items()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[('cuda_matmul_tf32', False), ('cudnn_tf32', True)]"


def test_verify_leaves_the_callers_flags_as_they_were() -> None:
    from rnnbench.measure.verify import verify

    numerics.set_tf32(True)
    verify(ModelConfig("rnn", 3, 4), ["scratch"], seq_len=3, batch=2, tf32=False)
    assert numerics.tf32_flags() == {"cuda_matmul_tf32": True, "cudnn_tf32": True}


@pytest.mark.parametrize("enabled", [False, True])
def test_set_tf32_sets_matmul_and_cudnn_together(enabled: bool) -> None:
    numerics.set_tf32(enabled)
    assert numerics.tf32_flags() == {"cuda_matmul_tf32": enabled, "cudnn_tf32": enabled}
    # legacy readers (env, user code) must not raise "mix of the legacy and new APIs" afterwards
    assert bool(torch.backends.cudnn.allow_tf32) is enabled
    assert bool(torch.backends.cuda.matmul.allow_tf32) is enabled
    from rnnbench.measure.env import numeric_flags

    assert numeric_flags()["cudnn_tf32"] is enabled
    # and the new API agrees (cuDNN RNNs resolve to the same math)
    rnn = numerics._resolve(torch.backends.cudnn.rnn.fp32_precision, torch.backends.cudnn.fp32_precision)
    assert rnn == ("tf32" if enabled else "ieee")


def test_flags_readable_when_someone_mixed_the_apis() -> None:
    """A user (or library) setting the new API inconsistently makes legacy reads raise; ours must not."""
    torch.backends.cudnn.rnn.fp32_precision = "ieee"  # new API, legacy flag still True
    assert numerics.tf32_flags()["cudnn_tf32"] is False


def test_tolerance_follows_the_policy_only_where_tf32_exists() -> None:
    assert numerics.verify_tolerance("float32", False, "cuda") == 2e-5
    assert numerics.verify_tolerance("float32", True, "cuda") == 1e-2
    assert numerics.verify_tolerance("float32", True, "cpu") == 2e-5  # no TF32 on CPUs
    assert numerics.verify_tolerance("bfloat16", True, "cuda") == 5e-2
    assert numerics.policy_name(True) == "tf32" and numerics.policy_name(False) == "ieee"


def test_verify_applies_the_policy_before_building(monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify`` sets the policy for every implementation alike, before the reference is built."""
    from rnnbench.measure import verify as verify_module
    from rnnbench.measure.models import build

    events: list[str] = []
    real_set, real_build = numerics.set_tf32, build.build_model
    monkeypatch.setattr(
        numerics, "set_tf32", lambda enabled: (events.append(f"tf32={enabled}"), real_set(enabled))
    )

    def recording_build(config: ModelConfig, impl: str, *args: object, **kwargs: object) -> object:
        events.append(f"build {impl}")
        return real_build(config, impl, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "build_model", recording_build)
    checks = verify_module.verify(ModelConfig("gru", 3, 4), ["scratch"], seq_len=3, batch=2, tf32=True)
    assert events[0] == "tf32=True" and events[1] == "build native"
    assert [c.status for c in checks] == ["ok"] and checks[0].tolerance == 2e-5  # CPU: IEEE regardless
