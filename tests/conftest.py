import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
import torch

# CI and developer machines here have 2 shared cores: one intra-op thread avoids OpenMP spin contention
# between torch and the MuJoCo/worker processes the tests start.
torch.set_num_threads(1)

@pytest.fixture
def tiny_ds():
    """A tiny synthetic state-only dataset (policies and trainer tests)."""
    from physai.train.memory import InMemoryDataset, synthetic_episodes

    return InMemoryDataset(synthetic_episodes(), robot_type="toy", env_task=None)


@pytest.fixture
def tiny_img_ds():
    """The same with one camera."""
    from physai.train.memory import InMemoryDataset, synthetic_episodes

    return InMemoryDataset(synthetic_episodes(camera="front"), robot_type="toy-cam")


@pytest.fixture
def small() -> dict:
    """Tiny configs per policy so tests run in seconds."""
    return {
        "mlp": {"hidden_dim": 64, "n_layers": 2},
        "act": {
            "d_model": 32,
            "n_heads": 2,
            "n_encoder_layers": 1,
            "n_decoder_layers": 1,
            "ff_dim": 64,
            "vae_encoder_layers": 1,
            "latent_dim": 4,
            "dropout": 0.0,
            "chunk_size": 8,
            "n_action_steps": 4,
        },
        "flow": {
            "d_model": 32,
            "hidden_dim": 64,
            "n_heads": 2,
            "n_layers": 1,
            "ff_dim": 64,
            "num_steps": 4,
            "chunk_size": 8,
            "n_action_steps": 4,
        },
        "vla": {
            "d_model": 32,
            "n_heads": 2,
            "n_layers": 2,
            "ff_dim": 64,
            "hidden_dim": 64,
            "head_layers": 2,
            "action_width": 8,
            "num_steps": 4,
            "chunk_size": 8,
            "n_action_steps": 4,
            "text_buckets": 256,
        },
    }
