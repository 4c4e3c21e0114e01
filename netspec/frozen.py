"""The base of every pydantic model in the IR: frozen, strict about extra fields, built on demand.

The elaborator builds nodes with `model_construct` (its values are checked as it goes, and a test
validates every zoo network); validation schemas are built only when something asks for them,
e.g. model_validate_json, which keeps `netspec lint` from paying for them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_CONSTANT = (type(None), bool, int, float, str, bytes)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any):
        """pydantic's `model_construct` (no validation, defaults filled in, the given names recorded as set,
        unknown names ignored), with each class's constant defaults looked up once: pydantic resolves every
        default on every call, which was a third of the elaborator's time. These models have no aliases."""
        template, required, per_call = _plans.get(cls) or _plan(cls)
        state = template.copy()
        state.update(values)  # known names keep the fields' order
        if len(state) != len(template):
            for name in values.keys() - template.keys():
                del state[name]
        for name in required - values.keys():
            del state[name]
        for name in per_call:
            if name not in values:
                state[name] = cls.model_fields[name].get_default(call_default_factory=True, validated_data=state)
        return _instance(cls, state, values.keys() & template.keys() if _fields_set is None else _fields_set)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False):
        """pydantic's shallow `model_copy` (the elaborator names every node with one) without its generic
        copying of extras and private attributes, which these models do not have."""
        if deep:
            return super().model_copy(update=update, deep=True)
        return _instance(type(self), {**self.__dict__, **(update or {})},
                         self.__pydantic_fields_set__.union(update or ()))

    def model_dump(self, *args, **kwargs) -> dict[str, Any]:
        _complete_every_class()
        return super().model_dump(*args, **kwargs)

    def model_dump_json(self, *args, **kwargs) -> str:
        _complete_every_class()
        return super().model_dump_json(*args, **kwargs)


def _instance(cls: type[Frozen], state: dict[str, Any], fields_set: set[str]) -> Frozen:
    node = cls.__new__(cls)
    object.__setattr__(node, "__dict__", state)
    object.__setattr__(node, "__pydantic_fields_set__", fields_set)
    object.__setattr__(node, "__pydantic_extra__", None)
    object.__setattr__(node, "__pydantic_private__", None)
    return node


def _complete_every_class() -> None:
    """Build the serializer of every model class before a dump. A composite dumps each child with its own
    class's serializer (SerializeAsAny), and pydantic-core cannot build a deferred one on demand from there."""
    stack = [Frozen]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__pydantic_complete__:
            cls.model_rebuild()


_plans: dict[type, tuple[dict[str, Any], frozenset[str], tuple[str, ...]]] = {}


def _plan(cls: type[Frozen]) -> tuple[dict[str, Any], frozenset[str], tuple[str, ...]]:
    """Every field in order with its constant default (None where it has none), the required fields,
    and those whose default must be made per call (a factory, or a value that is not a constant)."""
    template, required, per_call = {}, set(), []
    for name, field in cls.model_fields.items():
        template[name] = None
        if field.is_required():
            required.add(name)
        elif field.default_factory is None and _constant(field.default):
            template[name] = field.default
        else:
            per_call.append(name)
    _plans[cls] = template, frozenset(required), tuple(per_call)
    return _plans[cls]


def _constant(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(v) for v in value)
    return type(value) in _CONSTANT
