"""Image features for act: training speed of keypoint vs grid tokens, and a localization probe.

`speed`: samples/s of one act training step (batch 64, two 64 x 64 cameras, instruction token) with
`image_features=keypoints` vs `grid`, measured in the same process (the ratio is the figure).

`probe`: can the image encoder find the named object and the tray in scenes it has not seen? Records
privileged demos (object/tray poses as labels only), trains KeypointEncoders + instruction -> (target
x, y, tray x, y) on the first `--train-eps` episodes and reports the mean absolute error (cm) on the
training scenes and on the held-out episodes.

    .venv/bin/python bench/image_features.py speed
    .venv/bin/python bench/image_features.py probe --seconds 120 \
        --variants base,noaug,film,nomean,rel,rel_wristonly

Variant names combine: noaug (no random shift), film (instruction as FiLM on the conv features),
nomean (keypoints only, no channel means), query (QueryKeypointEncoder: small-receptive-field
pixels scored by learned + instruction queries), nofeat (query: coordinates only, no attended
features), kpsup (query: its attention also trained, by squared error of its expected point, to the
object's/tray's projected scene-camera point), kpce (the same by cross-entropy against the point's
cell), rel (labels relative to the gripper), wristonly, sceneonly.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from learning import record
from physai.policies.base import random_shift
from physai.policies.layers import (
    HashedTextEncoder,
    KeypointEncoder,
    QueryKeypointEncoder,
    mlp,
    point_cells,
    pool_text,
)

LABELS = ("target.pos.x", "target.pos.y", "tray.pos.x", "tray.pos.y")


def speed(args: argparse.Namespace) -> dict:
    from physai.policies import make_policy
    from physai.policies.spec import IOSpec

    spec = IOSpec(embodiment="arm7", state_names=[f"s{i}" for i in range(28)],
                  action_names=[f"a{i}" for i in range(7)], cameras=["scene", "wrist"],
                  image_size=(64, 64), control="ee_delta")
    b = 64
    batch = {
        "observation.state": torch.randn(b, 28),
        "observation.images.scene": torch.randint(0, 255, (b, 3, 64, 64), dtype=torch.uint8),
        "observation.images.wrist": torch.randint(0, 255, (b, 3, 64, 64), dtype=torch.uint8),
        "action": torch.randn(b, 20, 7),
        "action_is_pad": torch.zeros(b, 20, dtype=torch.bool),
        "task": ["put the red cube in the tray"] * b,
    }
    out = {}
    for feats in ("keypoints", "grid"):
        pol = make_policy("act", [spec], None, image_features=feats, use_instruction=True)
        opt = torch.optim.AdamW(pol.parameters(), 1e-4)
        for i in range(3 + args.steps):
            if i == 3:
                t0 = time.perf_counter()
            loss, _ = pol([batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[feats] = b * args.steps / (time.perf_counter() - t0)
    out["ratio_keypoints_vs_grid"] = out["keypoints"] / out["grid"]
    return out


class _Film(nn.Module):
    def __init__(self, d: int, c: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 2 * c)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        g, b = self.lin(t).chunk(2, -1)
        return f * (1 + g[..., None, None]) + b[..., None, None]


class _Probe(nn.Module):
    """Two KeypointEncoders + pooled instruction -> 4 normalized coordinates; `variant` toggles parts."""

    def __init__(self, variant: str, d: int = 64) -> None:
        super().__init__()
        self.variant = variant
        self.text = HashedTextEncoder(d, 1024, 24)
        self.cams = nn.ModuleList([KeypointEncoder(d) for _ in range(2)])
        self.films = nn.ModuleList([_Film(d, 32) for _ in range(2)])
        if "query" in variant:
            self.qcams = nn.ModuleList([QueryKeypointEncoder(d, d_text=d, appearance="nofeat" not in variant)
                                       for _ in range(2)])
            self.qproj = nn.ModuleList([nn.Linear(self.qcams[0].n_queries * d, d) for _ in range(2)])
        self.head = mlp(3 * d, 256, len(LABELS), layers=2)

    def _camera(self, i: int, img: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if "query" in self.variant:
            tok, xy, logits = self.qcams[i].locate(img, t)
            if i == 0:
                self.scene_xy, self.scene_logits = xy, logits  # for the keypoint supervision ('kp...')
            return self.qproj[i](torch.relu(tok).flatten(1))
        enc = self.cams[i]
        f = enc.net[:-1]((img - 0.5) / 0.25)
        if "film" in self.variant:
            f = self.films[i](f, t)
        f = enc.net[-1](f)
        h, w = f.shape[-2:]
        attn = torch.softmax(f.flatten(2) / enc.log_temp.exp(), -1)
        gy, gx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        kx, ky = (attn @ gx.reshape(-1, 1))[..., 0], (attn @ gy.reshape(-1, 1))[..., 0]
        mean = f.mean((2, 3)) * (0.0 if "nomean" in self.variant else 1.0)
        return enc.out(torch.cat([kx, ky, mean], -1))

    def forward(self, scene: torch.Tensor, wrist: torch.Tensor, texts: list[str]) -> torch.Tensor:
        t = pool_text(*self.text(self.text.token_ids(texts)))
        sc = self._camera(0, scene, t) * (0.0 if "wristonly" in self.variant else 1.0)
        wr = self._camera(1, wrist, t) * (0.0 if "sceneonly" in self.variant else 1.0)
        return self.head(torch.cat([sc, wr, t], -1))


def _scene_projection():
    """World points (N, 3) -> the fixed scene camera's image coordinates (N, 2) (`project_points`)."""
    import physai
    from physai.sim.projection import project_points

    env = physai.make("tabletop/pick-place", obs=("state",))
    env.reset(seed=0)

    def project(w: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(project_points(env.model, env.data, "scene", w.double().numpy())).float()

    return project


def _cell_ce(logits: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of attention logits (B, h, w) against the cell holding each point (B, 2)."""
    return nn.functional.cross_entropy(logits.flatten(1), point_cells(xy, *logits.shape[-2:])[0])


def _error_cm(model: nn.Module, inputs, ix: torch.Tensor, y, mu, sd) -> list[float]:
    """Mean absolute error (cm) per label of `model` on samples `ix`."""
    pred = torch.cat([model(*inputs(ix[k : k + 256], False)) for k in range(0, len(ix), 256)])
    return [round(float(v), 2) for v in ((pred * sd + mu - y[ix]).abs() * 100).mean(0)]


def probe(args: argparse.Namespace) -> dict:
    from physai.data import Dataset

    root = Path(tempfile.mkdtemp(prefix="physai-probe-")) / "data"
    rec = record("tabletop/pick-place", root, args.demos, seed=500, obs=("state", "images"),
                 privileged=True, image_size=(64, 64), cameras=["scene", "wrist"])
    ds = Dataset(root)
    names = json.loads((root / "meta" / "info.json").read_text())["features"]["observation.state"]["names"]
    cols = [names.index(n) for n in LABELS]
    n = len(ds)
    scene = torch.zeros(n, 3, 64, 64, dtype=torch.uint8)
    wrist = torch.zeros_like(scene)
    y = torch.zeros(n, len(LABELS))
    ep = torch.zeros(n, dtype=torch.long)
    fr = torch.zeros(n, dtype=torch.long)
    tcp_xy = torch.zeros(n, 2)
    texts = []
    for i in range(n):
        x = ds[i]
        scene[i] = (x["observation.images.scene"] * 255).round().byte()
        wrist[i] = (x["observation.images.wrist"] * 255).round().byte()
        y[i], ep[i], fr[i] = x["observation.state"][cols], x["episode_index"], x["frame_index"]
        tcp_xy[i] = x["observation.state"][[names.index("ee.pos.x"), names.index("ee.pos.y")]]
        texts.append(x["task"])
    zcols = [names.index("target.pos.z"), names.index("tray.pos.z")]
    z = torch.stack([ds[i]["observation.state"][zcols] for i in range(n)])
    project = _scene_projection()
    # scene-camera image points of the named object and the tray: labels for 'kpsup'
    kp_target = project(torch.stack([y[:, 0], y[:, 1], z[:, 0]], 1))
    kp_tray = project(torch.stack([y[:, 2], y[:, 3], z[:, 1]], 1))
    test_ix = (ep >= args.demos - args.heldout).nonzero()[:, 0]  # the same held-out scenes for every size

    def inputs(ix: torch.Tensor, aug: bool) -> tuple:
        s, w = scene[ix].float() / 255, wrist[ix].float() / 255
        if aug:
            s, w = random_shift(s, 0.06), random_shift(w, 0.06)
        return s, w, [texts[j] for j in ix]

    out: dict = {"data": rec}
    absolute = y.clone()
    sizes = [int(k) for k in str(args.train_eps).split(",")]
    for variant, n_train in [(v, k) for k in sizes for v in args.variants.split(",")]:
        if n_train > args.demos - args.heldout:
            raise SystemExit(f"--train-eps {n_train} overlaps the {args.heldout} held-out episodes "
                             f"of --demos {args.demos}")
        train_ix = (ep < n_train).nonzero()[:, 0]
        # 'rel': labels relative to the gripper (TCP x, y from proprioception), what a reach needs
        y = absolute - tcp_xy.repeat(1, 2) if "rel" in variant else absolute
        mu, sd = y.mean(0), y.std(0)
        torch.manual_seed(0)
        model = _Probe(variant)
        n_static = model.qcams[0].n_learned if "query" in variant else 0  # the first text query
        opt = torch.optim.AdamW(model.parameters(), 3e-4)
        t0, steps = time.perf_counter(), 0
        while time.perf_counter() - t0 < args.seconds:
            ix = train_ix[torch.randint(len(train_ix), (64,))]
            loss = ((model(*inputs(ix, "noaug" not in variant)) - (y[ix] - mu) / sd) ** 2).mean()
            if "kpsup" in variant:  # the first text query finds the object, the first learned one the tray
                xy = model.scene_xy
                loss = loss + 10 * ((xy[:, n_static] - kp_target[ix]) ** 2).mean() \
                    + 10 * ((xy[:, 0] - kp_tray[ix]) ** 2).mean()
            if "kpce" in variant:  # the same as cross-entropy on the labelled cell (as aux_keypoints)
                lg = model.scene_logits
                loss = loss + _cell_ce(lg[:, n_static], kp_target[ix]) + _cell_ce(lg[:, 0], kp_tray[ix])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.no_grad():
            err = {k: _error_cm(model, inputs, ix, y, mu, sd) for k, ix in
                   (("train_cm", train_ix[:1000]), ("heldout_cm", test_ix))}
        if "query" in variant:  # where the first text query looks in the scene image, vs the object
            with torch.no_grad():
                model(*inputs(test_ix[:512], False))
                px = (model.scene_xy[:, n_static] - kp_target[test_ix[:512]]).abs() * 32
                first = fr[test_ix[:512]] < 5
            err["heldout_text_query_px"] = [round(float(v), 2) for v in px.mean(0)]
            err["heldout_text_query_px_first5"] = [round(float(v), 2) for v in px[first].mean(0)]
        out[f"{variant}@{n_train}"] = {"steps": steps, **err}
        print(variant, n_train, out[f"{variant}@{n_train}"], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("speed", "probe"))
    ap.add_argument("--steps", type=int, default=10, help="speed: timed training steps per variant")
    ap.add_argument("--demos", type=int, default=60, help="probe: privileged demos to record")
    ap.add_argument("--train-eps", default="50", help="probe: episodes to train on, comma-separated sizes")
    ap.add_argument("--heldout", type=int, default=10, help="probe: last episodes held out for the error")
    ap.add_argument("--seconds", type=float, default=120.0, help="probe: training time per variant")
    ap.add_argument("--variants", default="base,noaug,film,nomean", help="probe: comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = speed(args) if args.what == "speed" else probe(args)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
