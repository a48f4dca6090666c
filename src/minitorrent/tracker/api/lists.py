"""List answers serialised straight from the services' views.

The routes declare their answer model (response_model, for the OpenAPI document); the
answer itself is the services' dataclasses dumped by pydantic in one pass. Building a
model per row and letting FastAPI check and serialise the list again cost about 9 us
a row here: GET /groups with 90 groups took 1.6 ms instead of 0.8.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

V = TypeVar("V")


class JsonList(Generic[V]):
    """Answers with a JSON list of `view` dataclasses shaped like the `model`."""

    def __init__(self, view: type[V], model: type[BaseModel]) -> None:
        fields = [field.name for field in dataclasses.fields(view)]  # type: ignore[arg-type]
        if fields != list(model.model_fields):
            raise TypeError(f"{view.__name__} {fields} does not match {model.__name__}")
        self.model = model
        self._adapter: TypeAdapter[list[Any]] = TypeAdapter(list[view])  # type: ignore[valid-type]

    def response(self, views: list[V]) -> Response:
        return Response(self._adapter.dump_json(views), media_type="application/json")
