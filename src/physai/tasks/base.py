"""The Task interface: scene + randomization + instructions + success predicate + scripted expert."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import mujoco
import numpy as np

from physai.core.registry import Registry
from physai.core.specs import DEFAULT_CONTROL_HZ
from physai.embodiments.base import Embodiment, make_embodiment
from physai.sim.binding import MjBound

TASKS: Registry[type[Task]] = Registry("task")
TaskT = TypeVar("TaskT", bound="Task")


@dataclass
class TaskConfig:
    """Settings shared by every task; tasks subclass this with their own fields."""

    max_steps: int | None = None
    """Episode length limit in control steps (None: the task's default)."""


class Expert(abc.ABC, Generic[TaskT]):
    """A scripted controller that solves a task from privileged simulator state.

    It acts in the task's `expert_control` mode and reads the task (and its robot) directly; `Expert[T]`
    types `self.task` as the task class `T` it was written for.
    """

    def __init__(self, task: TaskT) -> None:
        self.task: TaskT = task

    def reset(self) -> None:
        """Called after every env reset."""

    @abc.abstractmethod
    def act(self, obs: dict) -> np.ndarray:
        """Next action in `task.expert_control` mode."""


class Task(MjBound, abc.ABC):
    """One task of a suite, named `suite/task`. Register subclasses with `@register_task`.

    Lifecycle inside the env: `build(spec)` adds fixtures/objects (after the robot is built);
    `bind(model, data)` resolves ids; `reset(rng)` randomizes the initial state in `data` (the robot is
    already at home); `success()` is evaluated after every control step.
    """

    name: ClassVar[str] = ""
    embodiment_name: ClassVar[str] = "arm7"
    instructions: ClassVar[tuple[str, ...]] = ()
    """Instruction templates; `{fields}` are filled from `instruction_fields()`."""
    default_max_steps: ClassVar[int] = 200
    control_hz: ClassVar[float] = DEFAULT_CONTROL_HZ
    timestep: ClassVar[float] = 0.002
    expert_control: ClassVar[str] = "ee_delta"
    config_cls: ClassVar[type[TaskConfig]] = TaskConfig

    def __init__(self, config: TaskConfig | None = None) -> None:
        self.config = config or self.config_cls()
        self.robot: Embodiment = self.make_embodiment()
        self._instruction = ""

    # ------------------------------------------------------------ hooks for subclasses
    def make_embodiment(self) -> Embodiment:
        """The robot this task runs on (override to place it differently)."""
        return make_embodiment(self.embodiment_name)

    @abc.abstractmethod
    def build(self, spec: mujoco.MjSpec) -> None:
        """Add tables, fixtures, objects and markers to the scene."""

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Resolve object names to ids; override and call super()."""
        self.model, self.data = model, data

    @abc.abstractmethod
    def reset(self, rng: np.random.Generator) -> None:
        """Randomize the initial state (object poses, targets) in `self.data`."""

    @abc.abstractmethod
    def success(self) -> bool:
        """True when the task is accomplished in the current state."""

    def failed(self) -> bool:
        """True when the episode can no longer succeed (e.g. a fragile object broke)."""
        return False

    def state_names(self) -> list[str]:
        """Names of the privileged task state (object poses, targets)."""
        return []

    def state(self) -> np.ndarray:
        """Privileged task state appended to the robot state when observations are privileged."""
        return np.zeros(0, dtype=np.float32)

    def keypoints(self) -> dict[str, np.ndarray]:
        """World points (3,) worth finding in camera images, by name (e.g. the named object). An env
        made with `image_labels=True` records each one's image coordinates per camera as labels
        (`<name>.px.<camera>.x/y`), for training image encoders; never a policy input."""
        return {}

    def instruction_fields(self) -> dict[str, str]:
        """Values for the instruction template placeholders after `reset`."""
        return {}

    @abc.abstractmethod
    def make_expert(self) -> Expert[Any]:
        """A scripted expert for this task."""

    # ------------------------------------------------------------ provided
    @property
    def max_steps(self) -> int:
        return self.config.max_steps or self.default_max_steps

    @property
    def substeps(self) -> int:
        return max(1, round(1.0 / (self.control_hz * self.timestep)))

    def choose_instruction(self, rng: np.random.Generator) -> str:
        """Pick and fill one instruction template (called by the env after `reset`)."""
        template = self.instructions[int(rng.integers(len(self.instructions)))] if self.instructions else ""
        self._instruction = template.format(**self.instruction_fields())
        return self._instruction

    @property
    def instruction(self) -> str:
        return self._instruction

    @property
    def suite(self) -> str:
        return self.name.split("/")[0]


def register_task(name: str):
    """Class decorator: register a Task subclass under `suite/task`."""
    if "/" not in name:
        raise ValueError(f"task names are 'suite/task', got {name!r}")

    def deco(cls: type[Task]) -> type[Task]:
        cls.name = name
        return TASKS.register(name)(cls)

    return deco


def make_task(name: str, config: TaskConfig | None = None) -> Task:
    """Instantiate the task registered as `name`."""
    return TASKS.get(name)(config)


def tasks_in(selector: str) -> list[str]:
    """Task names for 'all', 'suite:NAME', or a comma-separated list (each validated)."""
    if selector == "all":
        return TASKS.names()
    if selector.startswith("suite:"):
        suite = selector.split(":", 1)[1]
        names = [n for n in TASKS.names() if n.split("/")[0] == suite]
        if not names:
            from physai.core.errors import UnknownNameError

            raise UnknownNameError("suite", suite, sorted({n.split("/")[0] for n in TASKS.names()}))
        return names
    names = [s.strip() for s in selector.split(",") if s.strip()]
    for n in names:
        TASKS.get(n)
    return names
