"""A process's one-time set-up on a device, paid before the first case is timed (see :func:`prime_device`)."""

from __future__ import annotations

_PRIMED: set[tuple[str, str, bool]] = set()


def prime_device(device: str, dtype: str, optimizer: bool = False) -> bool:
    """Pay this process's one-time set-up on ``device`` before any case is timed; True the first time per
    ``(device, dtype, optimizer)``, False after.

    The first recurrent forward/backward of a process creates the cuDNN handle and loads cuDNN's RNN library,
    the first backward starts autograd's device thread, and (``optimizer``, for train mode) the first Adam
    step loads its kernels. Without this, whichever case is timed first pays all of it in its cold iteration
    (``first_iter_s``): LSTM, timed before GRU, had an inflated cold time on a GPU. A tiny ``torch.nn.RNN``
    (neither architecture that is compared) does one forward and backward (and Adam step), and a small matmul
    runs, in the case's dtype. The Adam step only where the cases train: they have built their own optimiser
    already, while a first ``torch.optim.Adam`` in an inference-only process would import for about a second.
    A dtype the device lacks is left to the cases to report: the priming is best effort and never fails one."""
    key = (device, dtype, optimizer)
    if key in _PRIMED:
        return False
    _PRIMED.add(key)
    import torch

    try:
        torch_dtype = getattr(torch, dtype)
        rnn = torch.nn.RNN(8, 8).to(device=device, dtype=torch_dtype)
        x = torch.randn(3, 2, 8, device=device, dtype=torch_dtype, requires_grad=True)
        out, _ = rnn(x)
        out.float().sum().backward()
        if optimizer:
            torch.optim.Adam(rnn.parameters(), lr=1e-4).step()
        (x.detach()[0] @ x.detach()[0].T).sum().item()  # the item() waits for the device
    except Exception:  # best effort (e.g. float16 on a CPU without its kernels)
        pass
    return True
