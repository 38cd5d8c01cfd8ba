"""Local multi-process training (what `torchrun --nproc_per_node N` does, without torchrun).

`train` itself is DDP-aware: under torchrun it reads RANK / WORLD_SIZE / LOCAL_RANK and joins the
process group (NCCL on GPUs, gloo on CPU). `run_local` spawns N such processes on this machine with
gloo, e.g. to check that N ranks reproduce single-process training on the same global batch.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, datasets: list[Any], out: str, cfg: Any, threads: int) -> None:
    import torch

    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(threads)
    from physai.train.trainer import train

    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        train(datasets, out, cfg)
    finally:
        torch.distributed.destroy_process_group()


def run_local(nproc: int, datasets: list[Any], out: str | Path, cfg: Any, threads: int = 1) -> None:
    """Train with `nproc` CPU processes (gloo) into `out`; raises if any process fails."""
    mp.start_processes(
        _worker,
        args=(nproc, _free_port(), list(datasets), str(out), cfg, threads),
        nprocs=nproc,
        join=True,
        start_method="spawn",
    )
