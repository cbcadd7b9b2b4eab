from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Iterator
from typing import Annotated, Any, Generic, TypeVar, Union

import pytest
from typing_extensions import TypeAliasType

from typedsse import BaseEvent, EndpointDefinitionError, EventCatalog
from typedsse.catalog import stream_annotation

T = TypeVar("T")


class Echo(BaseEvent[str]): ...


class ReverseEcho(BaseEvent[str]): ...


class Impostor(BaseEvent[int], name="echo"): ...


class Generic1(BaseEvent[T], Generic[T]): ...


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (AsyncIterator[Echo], "async"),
        (AsyncIterable[Echo], "async"),
        (AsyncGenerator[Echo, None], "async"),
        (Iterator[Echo], "sync"),
        (Generator[Echo, None, None], "sync"),
        (Annotated[AsyncIterator[Echo], "meta"], "async"),
        (TypeAliasType("EchoStream", AsyncIterator[Echo]), "async"),
    ],
)
def test_stream_annotation_reads_kind_and_item(annotation: Any, kind: str) -> None:
    assert stream_annotation(annotation, where="f") == (kind, Echo)


@pytest.mark.parametrize("annotation", [None, Any, list[Echo], Echo, AsyncIterator])
def test_stream_annotation_refuses_non_streams(annotation: Any) -> None:
    with pytest.raises(EndpointDefinitionError, match=r"^f: "):
        stream_annotation(annotation, where="f")


@pytest.mark.parametrize(
    "union",
    [
        Echo | ReverseEcho,
        Union[Echo, ReverseEcho],  # noqa: UP007
        Annotated[Echo | ReverseEcho, "x"],
        TypeAliasType("Echoes", Echo | ReverseEcho),  # `type Echoes = Echo | ReverseEcho`
        Union[TypeAliasType("JustEcho", Echo), ReverseEcho],  # noqa: UP007
    ],
    ids=["pipe", "typing-union", "annotated", "type-alias", "alias-in-union"],
)
def test_event_catalog_maps_names_to_classes(union: Any) -> None:
    catalog = EventCatalog.of(union)
    assert dict(catalog.by_name) == {"echo": Echo, "reverse_echo": ReverseEcho}
    assert catalog.names == ("echo", "reverse_echo")
    assert Echo(data="x") in catalog
    assert Impostor(data=1) not in catalog
    assert "echo" not in catalog


def test_event_catalog_refuses_name_collisions() -> None:
    with pytest.raises(EndpointDefinitionError, match=r"Echo and Impostor share the event name 'echo'"):
        EventCatalog.of(Echo | Impostor, where="f")


@pytest.mark.parametrize(
    ("union", "message"),
    [
        (int, "int'> is not an event class"),
        (Echo | str, "str'> is not an event class"),
        (BaseEvent[str], "is a generic event class with no name"),
        (Generic1[int], "is a generic event class with no name"),
    ],
)
def test_event_catalog_refuses_non_events(union: Any, message: str) -> None:
    with pytest.raises(EndpointDefinitionError, match=message):
        EventCatalog.of(union, where="f")


def test_event_catalog_with_events_adds_and_checks() -> None:
    catalog = EventCatalog.of(Echo).with_events(ReverseEcho)
    assert catalog.names == ("echo", "reverse_echo")
    with pytest.raises(EndpointDefinitionError, match="share the event name"):
        catalog.with_events(Impostor)
