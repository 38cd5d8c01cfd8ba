"""`MjBound`: the compiled model and data a task or robot works on, typed and available once bound.

Tasks and embodiments read `self.model` / `self.data` everywhere after `bind(model, data)`; before it
there is nothing to read. The properties return `mujoco.MjModel` / `mujoco.MjData` (never None), and
reading one before `bind` raises `NotBoundError` naming the object and the fix.
"""

from __future__ import annotations

import mujoco

from physai.core.errors import PhysaiError


class NotBoundError(PhysaiError, RuntimeError):
    """A task or robot was used before `bind(model, data)` gave it a compiled model."""


class MjBound:
    """Mixin: `model` and `data`, set by `bind(model, data)` (assigning None unbinds)."""

    _model: mujoco.MjModel | None = None
    _data: mujoco.MjData | None = None

    def _unbound(self, what: str) -> NotBoundError:
        return NotBoundError(
            f"{type(self).__name__}.{what} read before bind(model, data): the MuJoCo model is not "
            "compiled yet; make an env (physai.make) or call bind() first"
        )

    @property
    def model(self) -> mujoco.MjModel:
        if self._model is None:
            raise self._unbound("model")
        return self._model

    @model.setter
    def model(self, value: mujoco.MjModel | None) -> None:
        self._model = value

    @property
    def data(self) -> mujoco.MjData:
        if self._data is None:
            raise self._unbound("data")
        return self._data

    @data.setter
    def data(self, value: mujoco.MjData | None) -> None:
        self._data = value

    @property
    def bound(self) -> bool:
        """Whether `bind(model, data)` has been called."""
        return self._model is not None and self._data is not None
