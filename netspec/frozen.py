"""The base of every pydantic model in the IR: frozen, strict about extra fields, built on demand.

The elaborator builds nodes with `model_construct` (its values are checked as it goes, and a test
validates every zoo network); validation schemas are built only when something asks for them,
e.g. model_validate_json, which keeps `netspec lint` from paying for them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_REQUIRED = object()
_PER_CALL = object()
_CONSTANT = (type(None), bool, int, float, str, bytes)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any):
        """pydantic's `model_construct` (no validation, defaults filled in, the given names recorded as set),
        with each class's constant defaults looked up once: pydantic resolves every default on every call,
        which was a third of the elaborator's time. Aliases are not supported: these models have none."""
        plan = _plans.get(cls) or _plan(cls)
        state = {}
        for name, default in plan:
            if name in values:
                state[name] = values[name]
            elif default is _PER_CALL:
                state[name] = cls.model_fields[name].get_default(call_default_factory=True, validated_data=state)
            elif default is not _REQUIRED:
                state[name] = default
        node = cls.__new__(cls)
        object.__setattr__(node, "__dict__", state)
        object.__setattr__(node, "__pydantic_fields_set__", set(values) & state.keys() if _fields_set is None
                           else _fields_set)
        object.__setattr__(node, "__pydantic_extra__", None)
        object.__setattr__(node, "__pydantic_private__", None)
        return node

    def model_dump(self, *args, **kwargs) -> dict[str, Any]:
        _complete_every_class()
        return super().model_dump(*args, **kwargs)

    def model_dump_json(self, *args, **kwargs) -> str:
        _complete_every_class()
        return super().model_dump_json(*args, **kwargs)


def _complete_every_class() -> None:
    """Build the serializer of every model class before a dump. A composite dumps each child with its own
    class's serializer (SerializeAsAny), and pydantic-core cannot build a deferred one on demand from there."""
    stack = [Frozen]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__pydantic_complete__:
            cls.model_rebuild()


_plans: dict[type, tuple[tuple[str, Any], ...]] = {}


def _plan(cls: type[Frozen]) -> tuple[tuple[str, Any], ...]:
    """Each field with its default: the value where it is a constant, else a marker."""
    plan = []
    for name, field in cls.model_fields.items():
        if field.is_required():
            plan.append((name, _REQUIRED))
        elif field.default_factory is None and _constant(field.default):
            plan.append((name, field.default))
        else:
            plan.append((name, _PER_CALL))
    _plans[cls] = tuple(plan)
    return _plans[cls]


def _constant(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(v) for v in value)
    return type(value) in _CONSTANT
