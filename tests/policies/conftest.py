import pytest
import torch

from physai.train.memory import InMemoryDataset, synthetic_episodes

torch.set_num_threads(1)  # a shared 2-core machine: one thread avoids OpenMP spin contention


@pytest.fixture
def tiny_ds() -> InMemoryDataset:
    return InMemoryDataset(synthetic_episodes(), robot_type="toy", env_task=None)


@pytest.fixture
def tiny_img_ds() -> InMemoryDataset:
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
            "num_steps": 4,
            "chunk_size": 8,
            "n_action_steps": 4,
            "text_buckets": 256,
        },
    }
