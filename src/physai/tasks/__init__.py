"""Task suites. Importing this package registers every built-in task."""

from physai.tasks import bimanual, dexterous, humanoid, kitchen, quadruped, tabletop  # noqa: F401  (registration)
from physai.tasks.base import TASKS, Expert, Task, TaskConfig, make_task, register_task, tasks_in

__all__ = ["TASKS", "Expert", "Task", "TaskConfig", "make_task", "register_task", "tasks_in"]
