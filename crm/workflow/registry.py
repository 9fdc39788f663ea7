"""The workflows this installation knows: name → model class."""

from __future__ import annotations

_MODELS: dict[str, type] = {}


def register(model: type) -> type:
    """Class decorator for a workflow model: makes it known to the sweep, the diagram and the routes."""
    name = model.__machine__.name
    if _MODELS.get(name, model) is not model:
        raise ValueError(f"workflow {name!r} is registered twice")
    _MODELS[name] = model
    return model


def unregister(name: str) -> None:
    _MODELS.pop(name, None)


def workflow_models() -> dict[str, type]:
    return dict(_MODELS)


def model_for(name: str) -> type | None:
    return _MODELS.get(name)
