"""A port wired to its adapter once, at start-up: the domain asks for one without knowing
which (penaltypay.operations.apps does the wiring, from the adapters' factories)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Wire(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._factory: Callable[[], T] | None = None

    def use(self, factory: Callable[[], T]) -> None:
        self._factory = factory

    def __call__(self) -> T:
        if self._factory is None:
            raise RuntimeError(f"no {self.name} wired in (penaltypay.operations.apps does it at start-up)")
        return self._factory()
