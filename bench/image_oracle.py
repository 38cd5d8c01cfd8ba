"""How much of an image act policy's failure is localization? Evaluate it with exact keypoints.

Takes an `act` checkpoint trained with `image_features=query` and `aux_keypoints` (its env records the
keypoints' image coordinates, `image_labels=True`). For each `--modes` entry it runs the same seeded
episodes, replacing the points that the supervised queries' tokens carry, on the named cameras, by the
labelled points (where the point is inside the image): `none` is the policy as it is, `scene` gives
the scene camera exact keypoints, `all` every camera. `scrambled` is a check that the policy acts
from images and proprioception only: the state elements it excludes (object poses, keypoint labels)
are replaced by noise before it sees them, which must change nothing. It also reports how far, in
pixels, the named object's query lands from its label in each camera (median over every step where
it is in view).

    .venv/bin/python bench/image_oracle.py runs/X/checkpoint --episodes 40 \
        --modes none,scrambled,scene,all --json
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")


def run(checkpoint: str, task: str, episodes: int, seed: int, mode: str) -> dict:
    import physai
    from physai.policies import load_policy

    pol = load_policy(checkpoint).eval()
    if not getattr(pol, "kp_query", None):
        raise SystemExit(f"{checkpoint}: not an act policy trained with aux_keypoints")
    env = physai.make(task, **pol.env_kwargs())
    cams = list(env.camera_names)
    if mode not in ("none", "all", "scrambled", *cams):
        raise SystemExit(f"--modes: {mode!r} is not none, all, scrambled or a camera of {cams}")
    read = set(pol.state_feats[0].keep.tolist())  # the state elements the policy's network reads
    hidden = [i for i in range(len(env.state_names)) if i not in read]
    rng = np.random.default_rng(0)
    now: dict = {}
    errors: dict[str, list[float]] = {c: [] for c in cams}
    for i, enc in enumerate(pol.cams):
        cam, locate = cams[i], enc.locate

        def wrapped(img, text=None, _locate=locate, _i=i, _cam=cam, _enc=enc):
            tokens, mean, logits = _locate(img, text)
            labels = torch.stack([torch.as_tensor(now["state"][pol.kp_cols[k][_i]], dtype=mean.dtype)
                                  for k in range(len(pol.kp_query))])  # (K, 2)
            inside = (labels.abs() < 1).all(-1)
            if bool(inside[0]):  # the first keypoint: the named object
                off = (mean[0, pol.kp_query[0]] - labels[0]).abs().max()
                errors[_cam].append(float(off) * img.shape[-1] / 2)
            if mode in (_cam, "all"):
                exact = mean.clone()
                for k, q in enumerate(pol.kp_query):
                    if bool(inside[k]):
                        exact[0, q] = labels[k]
                tokens = tokens + (exact - mean) @ _enc.out.weight[:, :2].T  # the point enters linearly
                mean = exact
            return tokens, mean, logits

        enc.locate = wrapped
    ok = []
    with torch.inference_mode():
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            pol.reset()
            while True:
                now["state"] = obs["state"]
                if mode == "scrambled":
                    state = obs["state"].copy()
                    state[hidden] = rng.normal(0, 10, len(hidden))
                    obs = {**obs, "state": state}
                obs, _, term, trunc, info = env.step(pol.act(obs))
                if term or trunc:
                    break
            ok.append(bool(info["is_success"]))
    env.close()
    return {"mode": mode, "success_rate": float(np.mean(ok)), "episodes": episodes,
            "successes": [int(x) for x in ok],
            "target_error_px_median": {c: round(float(np.median(v)), 2) if v else None
                                       for c, v in errors.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--task", default="tabletop/pick-place")
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=100_000)
    ap.add_argument("--modes", default="none,scene,all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [run(args.checkpoint, args.task, args.episodes, args.seed, m) for m in args.modes.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['mode']:>6}: success {r['success_rate']:.0%} of {r['episodes']}, "
                  f"named object's query off by (median px) {r['target_error_px_median']}")


if __name__ == "__main__":
    main()
