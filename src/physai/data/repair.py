"""`validate` (every invariant, each violation naming its culprit file and episodes) and `repair`
(salvage: keep every episode that verifies, wherever it sits; never destroy an original).

Repair checks each episode on its own (rows, frames, decoding, recorded sha256), keeps every one that
checks out and renumbers them contiguously. Packed files keep their intact episodes: a data parquet is
rewritten with the good rows, a damaged mp4 is remuxed from the packets of the kept episodes (same
timestamps). Damaged metadata (info.json, fps, features, tasks.parquet, the episodes table, stats) is
rebuilt from the data. Every file it removes or replaces is moved, byte for byte, to
`.quarantine/<UTC time>/<same relative path>` next to a `report.json` saying what, why and which
episodes; `out=` writes the repaired dataset to a new folder and leaves the original as it is. A second
run changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from physai.core.errors import ConfigError, DatasetError
from physai.core.progress import NullProgress, Progress
from physai.data.check import Problem, check_episodes, check_files, survey
from physai.data.rebuild import _ep_table, _link_tree, _orphans, rebuild
from physai.data.staging import unfinished_collect as _unfinished_collect


def validate(
    root: str | Path,
    deep: bool = True,
    max_errors: int = 20,
    progress: Progress | None = None,
    checksums: bool = False,
) -> list[str]:
    """Every violated invariant (up to `max_errors`), each naming the culprit file and its episodes;
    empty when the dataset is sound. `deep`: decode every frame; `checksums`: also compare every file
    and episode with the sha256 recorded when it was written (finds a flipped byte that decodes)."""
    return [str(p) for p in inspect(root, deep, checksums, progress)["problems"]][:max_errors]


def inspect(
    root: str | Path, deep: bool = True, checksums: bool = False, progress: Progress | None = None
) -> dict:
    """{"problems": [Problem], "notes": [str]} — what `validate` reports, with structure."""
    progress = progress or NullProgress()
    unfinished = _unfinished_collect(Path(root))
    if unfinished:
        return {"problems": [Problem("", unfinished)], "notes": []}
    try:
        sv = survey(root)
    except DatasetError as exc:
        return {"problems": [Problem("", str(exc))], "notes": []}
    progress.start(len(sv.rows), "validate")
    bad = check_episodes(sv, deep=deep, verify=checksums)
    progress.advance(len(sv.rows))
    progress.close()
    problems = list(sv.problems)
    prev = 0
    for pos, row in enumerate(sv.rows):
        if row["episode_index"] != pos:
            problems.append(
                Problem(
                    _ep_table(),
                    f"episode_index {row['episode_index']} at position {pos} (indices must be contiguous)",
                    [row["episode_index"]],
                )
            )
        elif row["dataset_from_index"] != prev:
            problems.append(
                Problem(
                    _ep_table(),
                    f"dataset_from_index {row['dataset_from_index']} != "
                    f"previous episode's dataset_to_index {prev}",
                    [row["episode_index"]],
                )
            )
        prev = row["dataset_from_index"] + row["length"]
        problems += bad.get(pos, [])
    if checksums:
        problems += check_files(sv, bad)
    for path, eps in _orphans(sv, sv.rows).items():
        problems.append(
            Problem(
                sv.rel(path),
                "is not used by any episode (a leftover of an interrupted save or of damage); "
                "repair moves it to the quarantine",
                eps,
            )
        )
    problems = _merge(problems)
    return {"problems": problems, "notes": sv.notes}


def _merge(problems: list[Problem]) -> list[Problem]:
    """One line per (file, what): the episodes of identical violations are listed together."""
    out: dict[tuple[str, str], Problem] = {}
    for p in problems:
        key = (p.file, p.what)
        if key in out:
            out[key].episodes = sorted(set(out[key].episodes) | set(p.episodes))
        else:
            out[key] = Problem(p.file, p.what, list(p.episodes))
    return list(out.values())


# ---------------------------------------------------------------------------------------------- repair
def repair(root: str | Path, out: str | Path | None = None, progress: Progress | None = None) -> dict:
    """Keep every episode that verifies, rebuild damaged metadata from the data, renumber, and move
    everything removed or replaced to `.quarantine/<time>/` with `report.json`. `out`: repair a copy
    at that new folder instead (the original is not touched). Running it again changes nothing. An
    interrupted `physai collect` is finished instead (`collect.recover`: merge what was committed)."""
    from physai.data import collect

    root = Path(root)
    if out is not None:
        out = Path(out)
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not empty; choose a new folder for the repaired copy")
        if not root.is_dir():
            raise DatasetError(f"{root}: no such dataset folder")
        _link_tree(root, out)
        doc = repair(out, progress=progress)
        return {**doc, "source": str(root)}
    if collect.pending(root):
        return collect.recover(root, progress=progress)
    return rebuild(root, progress)
