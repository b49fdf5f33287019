"""Tools declared under postponed annotations, as most application modules are (imported by tests)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Callable


class Order(BaseModel):
    id: int


def find(order: Order, *, verbose: bool = False) -> str:
    """Find an order."""
    return f"{order.id}:{verbose}"


def logged(fn: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> str:
        return "logged " + fn(*args, **kwargs)

    return wrapper


@logged
def find_logged(order: Order) -> str:
    """Find an order, logged."""
    return str(order.id)


class Shop:
    def lookup(self, order: Order) -> str:
        """Look an order up in this shop."""
        return f"shop:{order.id}"

    def __call__(self, order: Order) -> str:
        return f"called:{order.id}"
