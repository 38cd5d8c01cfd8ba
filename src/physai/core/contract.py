"""The policy contract: one frozen, versioned description of what a policy consumes and produces.

Written once when a policy is built from its data, carried unchanged by the checkpoint (derived from its
stored `IOSpec` + config), the package (`policy.json["contract"]`), the runtime, the server metadata,
the evaluator and the fleet agent. Every boundary checks the other side against it: a robot at another
rate, with other cameras, image sizes or another embodiment is refused before anything moves.

Camera keys have one internal spelling, the bare camera name (`scene`); the env and the drivers carry an
image as `images/<camera>`, the model input of the same name, and LeRobot's `observation.images.<camera>`
appears only at the dataset boundary (`physai.policies.spec.IMAGE_PREFIX`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from physai.core.errors import ConfigError, SafetyError
from physai.core.specs import IMAGE_LABEL_TAG

CONTRACT_VERSION = 1
"""Bumped when a field changes meaning; readers refuse versions they do not know."""

EXECUTION_MODES = ("sync", "queue", "ensemble", "rtc")
RTC_METHODS = ("inpaint", "blend")
RTC_INPUTS = ("rtc_prefix", "rtc_weights")
"""Optional model inputs of an 'inpaint' package: the committed actions aligned to the new chunk
(H, A, raw units) and how strongly each step is held to them (H,) in [0, 1]; zeros mean none."""
INSTRUCTION_MODES = ("none", "fixed", "input")


@dataclass(frozen=True)
class Camera:
    """One camera the policy reads."""

    name: str
    """Camera name as the robot declares it (env/driver key `images/<name>`)."""
    height: int
    """Image height in pixels."""
    width: int
    """Image width in pixels."""


@dataclass(frozen=True)
class Execution:
    """How predicted chunks become one action per control cycle (the same in `Policy.act`, the evaluator
    and the runtime: `physai.core.execution.ChunkExecutor`)."""

    mode: str = "queue"
    """'sync': execute `horizon` actions of each chunk, then hold (idle) until the next chunk, predicted
    from the observation after them, arrives; 'queue': request the next chunk while the current one runs
    on and switch to it when it arrives; 'ensemble': infer every cycle and average the overlapping
    chunks' predictions (ACT's temporal ensembling); 'rtc': real-time chunking, like 'queue' but the next
    chunk is made to agree with the actions already committed (guided inpainting in the sampler for
    policies whose contract says `rtc='inpaint'`, blending over the overlap for `rtc='blend'`)."""
    horizon: int = 1
    """Actions executed from each chunk before the next inference (sync, queue and rtc modes)."""
    ensemble_coef: float | None = None
    """Weight exp(-coef * i) of the i-th oldest prediction (ensemble mode)."""

    def __post_init__(self) -> None:
        if self.mode not in EXECUTION_MODES:
            raise ConfigError(f"execution mode {self.mode!r} is not one of {EXECUTION_MODES}")
        if self.horizon < 1:
            raise ConfigError(f"execution horizon must be >= 1, got {self.horizon}")
        if self.mode == "ensemble" and (self.ensemble_coef is None or not math.isfinite(self.ensemble_coef)):
            raise ConfigError(f"ensemble execution needs a finite ensemble_coef, got {self.ensemble_coef}")


@dataclass(frozen=True)
class PolicyContract:
    """What a policy reads and writes, at which rate, for which robot, and how its chunks execute."""

    embodiment: str
    """Registered robot name (`robot_type` in the dataset), e.g. 'arm7'."""
    control: str
    """Control mode of the actions, e.g. 'ee_delta', 'joint_pos', 'base_velocity'."""
    control_hz: float
    """Control rate the policy was trained at and must run at (the dataset's fps)."""
    state_names: tuple[str, ...]
    """Names of the elements of the `state` input, in order."""
    action_names: tuple[str, ...]
    """Names of the elements of one action, in order."""
    chunk_size: int
    """Actions predicted per inference (H)."""
    execution: Execution = field(default_factory=Execution)
    """How chunks are executed."""
    cameras: tuple[Camera, ...] = ()
    """Cameras the policy reads, in model-input order."""
    tactile_dim: int = 0
    """Flattened size of the tactile input (0: none)."""
    instruction: str = "none"
    """'none' (not instruction-conditioned), 'fixed' (the text is inside the graph), 'input'."""
    instruction_text: str | None = None
    """The instruction fixed in the graph ('fixed')."""
    tokenizer: dict | None = None
    """How instruction text becomes the model's int64 `instruction` input ('input'):
    `physai.core.tokenizer.tokenize` ({'kind': 'hashed' | 'wordpiece', 'max_tokens', ...})."""
    action_low: tuple[float, ...] | None = None
    """Lower bound per action element the policy was trained within (None: not stated)."""
    action_high: tuple[float, ...] | None = None
    """Upper bound per action element (None: not stated)."""
    normalization: str = "embedded"
    """Where normalization happens: 'embedded' = inside the model (raw inputs, raw actions)."""
    privileged: bool | None = None
    """Whether `state` holds privileged task state (object poses) as well as proprioception."""
    image_labels: bool = False
    """The state ends with keypoint image coordinates (training labels; the model ignores them)."""
    env_task: str | None = None
    """The physai task the training data came from, when known."""
    tasks: tuple[str, ...] = ()
    """Instructions (LeRobot task strings) seen in training."""
    rtc: str | None = None
    """How the policy supports real-time chunking: 'inpaint' (a flow sampler; the model takes the optional
    inputs `RTC_INPUTS` and guides the new chunk toward the committed one), 'blend' (no sampler: the
    executor blends over the overlap), None (not recorded: exported before RTC existed; 'rtc' refused)."""
    version: int = CONTRACT_VERSION
    """Contract format version."""

    def __post_init__(self) -> None:
        if not self.embodiment:
            raise ConfigError("a policy contract needs an embodiment (robot name)")
        if not self.control:
            raise ConfigError("a policy contract needs a control mode (e.g. 'ee_delta')")
        if not (math.isfinite(self.control_hz) and self.control_hz > 0):
            raise ConfigError(f"contract control_hz must be a positive rate in Hz, got {self.control_hz}")
        if self.chunk_size < 1:
            raise ConfigError(f"contract chunk_size must be >= 1, got {self.chunk_size}")
        if self.execution.horizon > self.chunk_size:
            raise ConfigError(
                f"execution horizon {self.execution.horizon} exceeds chunk_size {self.chunk_size}"
            )
        if self.rtc is not None and self.rtc not in RTC_METHODS:
            raise ConfigError(f"contract rtc {self.rtc!r} is not one of {RTC_METHODS} (or null)")
        if self.instruction not in INSTRUCTION_MODES:
            raise ConfigError(f"instruction mode {self.instruction!r} is not one of {INSTRUCTION_MODES}")
        for bound in (self.action_low, self.action_high):
            if bound is not None and len(bound) != len(self.action_names):
                raise ConfigError(
                    f"contract action bounds have {len(bound)} elements for {len(self.action_names)} "
                    "action names"
                )
        if self.instruction == "input" and not self.tokenizer:
            raise ConfigError("instruction mode 'input' needs the tokenizer that turns text into token ids")
        sizes = {(c.height, c.width) for c in self.cameras}
        if len(sizes) > 1:
            raise ConfigError(f"every camera of a policy must have one image size, got {sorted(sizes)}")

    # ------------------------------------------------------------------ derived
    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) shared by every camera; None without cameras."""
        return (self.cameras[0].height, self.cameras[0].width) if self.cameras else None

    def model_inputs(self) -> list[dict]:
        """The ONNX model's inputs, in positional order: state, one uint8 image per camera, tactile."""
        ins: list[dict] = [
            {"name": "state", "dtype": "float32", "shape": [self.state_dim], "names": list(self.state_names)}
        ]
        ins += [
            {"name": f"images/{c.name}", "dtype": "uint8", "shape": [c.height, c.width, 3]}
            for c in self.cameras
        ]
        if self.tactile_dim:
            ins.append({"name": "tactile", "dtype": "float32", "shape": [self.tactile_dim]})
        if self.instruction == "input":
            from physai.core.tokenizer import tokenizer_vocab_size

            tok = self.tokenizer or {}
            ins.append({"name": "instruction", "dtype": "int64", "shape": [int(tok["max_tokens"])],
                        "vocab_size": tokenizer_vocab_size(tok)})
        if self.rtc == "inpaint":
            a = self.action_dim
            ins.append({"name": RTC_INPUTS[0], "dtype": "float32", "shape": [self.chunk_size, a]})
            ins.append({"name": RTC_INPUTS[1], "dtype": "float32", "shape": [self.chunk_size]})
        return ins

    def model_arrays(self, obs: dict) -> list:
        """One observation (keyed by model input name; `instruction` may be text) -> the unbatched model
        inputs in order. Raises ConfigError naming a missing input."""
        import numpy as np

        arrays = []
        for i in self.model_inputs():
            name = i["name"]
            if name in RTC_INPUTS and name not in obs:  # optional: zeros = no committed actions
                arrays.append(np.zeros(i["shape"], np.float32))
                continue
            if name not in obs:
                raise ConfigError(f"the observation lacks {name!r}, a policy input (has {sorted(obs)})")
            v = obs[name]
            if name == "instruction" and isinstance(v, str):
                v = self.tokens(v)
            a = np.asarray(v, dtype=i["dtype"])
            if a.size != int(np.prod(i["shape"])) or (name != "tactile" and list(a.shape) != i["shape"]):
                raise ConfigError(f"input {name!r} has shape {list(a.shape)}, the policy reads {i['shape']}")
            arrays.append(a.reshape(i["shape"]))  # a tactile array is read flattened
        return arrays

    def tokens(self, text: str):
        """The `instruction` model input for `text` ('input' mode): int64 token ids."""
        import numpy as np

        from physai.core.tokenizer import tokenize

        if self.instruction != "input":
            raise ConfigError(f"this policy takes no instruction input (mode {self.instruction!r})")
        return np.asarray(tokenize(self.tokenizer or {}, text), np.int64)

    def env_kwargs(self) -> dict:
        """Keyword arguments for `physai.make` / `PhysaiEnv` so the env yields exactly these inputs."""
        obs = ["state"] + (["images"] if self.cameras else []) + (["tactile"] if self.tactile_dim else [])
        if self.instruction == "input":
            obs.append("instruction")
        kw: dict[str, Any] = {"obs": tuple(obs), "control": self.control, "control_hz": self.control_hz}
        if self.privileged is not None:
            kw["privileged"] = self.privileged
        if self.cameras:
            kw["cameras"] = self.camera_names
            kw["image_size"] = self.image_size
            if self.image_labels:
                kw["image_labels"] = True
        return kw

    # ------------------------------------------------------------------ checks
    def check_robot(self, robot: Any, who: str = "the policy") -> None:
        """Refuse a robot (a `DriverInfo`) that does not match: embodiment, control mode, rate, state and
        action layout, cameras, image size, tactile. Raises `SafetyError` naming both sides and the fix."""
        problems = []
        if robot.embodiment != self.embodiment:
            problems.append(
                f"embodiment: {who} is for {self.embodiment!r}, the robot is {robot.embodiment!r} "
                "(use a policy trained for this robot)"
            )
        if robot.control != self.control:
            problems.append(
                f"control mode: {who} commands {self.control!r}, the robot driver accepts {robot.control!r} "
                f"(configure the driver for {self.control!r})"
            )
        if not math.isclose(float(robot.hz), self.control_hz, rel_tol=1e-6):
            problems.append(
                f"control rate: {who} runs at {self.control_hz:g} Hz, the robot declares "
                f"{float(robot.hz):g} Hz (configure the robot/driver for {self.control_hz:g} Hz, or "
                f"retrain at {float(robot.hz):g} Hz)"
            )
        if list(robot.state_names) != list(self.state_names):
            problems.append(
                f"state: {who} reads {self.state_dim} elements {_head(self.state_names)}, the robot provides "
                f"{len(robot.state_names)} {_head(robot.state_names)} (same robot, privileged setting and "
                "labels as the training data?)"
            )
        if list(robot.action_names) != list(self.action_names):
            problems.append(
                f"action: {who} writes {self.action_dim} elements {_head(self.action_names)}, the robot "
                f"takes {len(robot.action_names)} {_head(robot.action_names)}"
            )
        have = list(getattr(robot, "cameras", []) or [])
        missing = [c for c in self.camera_names if c not in have]
        if missing:
            problems.append(
                f"cameras: {who} reads {self.camera_names}, the robot provides {have} (missing {missing})"
            )
        size = getattr(robot, "image_size", None)
        if self.cameras and size is not None and self.image_size and tuple(size) != self.image_size:
            problems.append(
                f"image size: {who} reads {self.image_size[0]}x{self.image_size[1]} images, the robot's "
                f"cameras give {size[0]}x{size[1]} (set the camera resolution to match)"
            )
        tac = int(getattr(robot, "tactile_dim", 0) or 0)
        if self.tactile_dim and tac != self.tactile_dim:
            problems.append(f"tactile: {who} reads {self.tactile_dim} taxels, the robot provides {tac}")
        if problems:
            raise SafetyError("refusing to run: " + "; ".join(problems))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("state_names", "action_names", "tasks"):
            d[k] = list(d[k])
        for k in ("action_low", "action_high"):
            d[k] = None if d[k] is None else [float(x) for x in d[k]]
        d["cameras"] = [dict(c) for c in d["cameras"]]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict, where: str = "policy contract") -> PolicyContract:
        """Parse a contract; raises ConfigError naming `where` and the bad field."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where} is not a JSON object")
        version = d.get("version")
        if version != CONTRACT_VERSION:
            raise ConfigError(
                f"{where} has contract version {version!r}; this physai reads version {CONTRACT_VERSION} "
                "(re-export the package / re-save the checkpoint with this physai)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{where} has unknown fields {unknown}")
        try:
            kw = dict(d)
            kw["execution"] = Execution(**kw.get("execution", {}))
            kw["cameras"] = tuple(Camera(str(c["name"]), int(c["height"]), int(c["width"]))
                                  for c in kw.get("cameras", []))
            for k in ("state_names", "action_names", "tasks"):
                kw[k] = tuple(str(x) for x in kw.get(k, ()))
            for k in ("action_low", "action_high"):
                if kw.get(k) is not None:
                    kw[k] = tuple(float(x) for x in kw[k])
            kw["control_hz"] = float(kw["control_hz"])
            kw["chunk_size"] = int(kw["chunk_size"])
            kw["tactile_dim"] = int(kw.get("tactile_dim", 0))
            return cls(**kw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where} is malformed: {type(exc).__name__}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, where: str = "policy contract") -> PolicyContract:
        try:
            return cls.from_dict(json.loads(text), where)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not JSON: {exc}") from None

    def replace(self, **changes: Any) -> PolicyContract:
        """A copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def has_image_labels(state_names: tuple[str, ...] | list[str]) -> bool:
    """Whether a state layout carries keypoint image labels (`<kp>.px.<cam>.x/y`)."""
    return any(IMAGE_LABEL_TAG in n for n in state_names)


def _head(names: Any, n: int = 4) -> str:
    names = list(names)
    return str(names[:n])[:-1] + (", ...]" if len(names) > n else "]")
