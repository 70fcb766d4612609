"""Things registered by name: one small helper, in timm's ``register_model`` /
``create_model`` / ``list_models`` style.

Watermark schemes, label readers, generator-metadata readers, registry backends, feature
extractors and detector heads each keep a :class:`NameRegistry`. A name is registered once;
an unknown name raises :class:`~synthmark.errors.UsageError` (a ``ValueError``) that lists
the known ones, so that a typo on the command line says what would have worked.

>>> colours: NameRegistry[Callable[[], str]] = NameRegistry("colour")
>>> @colours.register("red")
... def red() -> str:
...     return "#f00"
>>> _ = colours.register("green", lambda: "#0f0")
>>> colours.names(), colours.create("green")
(['red', 'green'], '#0f0')
>>> colours["blue"]
Traceback (most recent call last):
...
synthmark.errors.UsageError: unknown colour 'blue'; known: red, green
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from synthmark.errors import UsageError

T = TypeVar("T")


class NameRegistry(Generic[T]):
    """Entries by name, in the order they were registered (or sorted by name).

    Args:
        kind: what an entry is, for messages (``"watermark scheme"``).
        sort: list the names sorted, not in registration order (for registries filled by
            imports, whose order is the imports').
    """

    def __init__(self, kind: str, *, sort: bool = False) -> None:
        self.kind = kind
        self.sort = sort
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: Any = None) -> Any:
        """Register ``entry`` as ``name`` and return it; without ``entry``, a decorator that
        registers what it decorates.

        Raises:
            ValueError: ``name`` is registered already.
        """

        def add(item: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = item
            return item

        return add if entry is None else add(entry)

    def names(self) -> list[str]:
        """The registered names, in registration order (sorted with ``sort``)."""
        return sorted(self._entries) if self.sort else list(self._entries)

    def known(self) -> str:
        """The names as the messages list them: ``a, b, c``."""
        return ", ".join(self.names())

    def __getitem__(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            UsageError: no such name (the message lists the known ones).
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}; known: {self.known()}") from None

    def create(self, name: str, *args: Any, **params: Any) -> Any:
        """Call the factory registered as ``name`` with ``params``.

        Raises:
            UsageError: an unknown name, or parameters the factory does not take.
        """
        factory: Any = self[name]
        try:
            return factory(*args, **params)
        except TypeError as exc:
            raise UsageError(f"bad parameters for {self.kind} {name!r}: {exc}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return self.names()

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]

    def __repr__(self) -> str:
        return f"NameRegistry({self.kind!r}: {self.known()})"


__all__ = ["NameRegistry"]
