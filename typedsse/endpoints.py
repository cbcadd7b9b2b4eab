"""`@sse`: a typed stream function becomes a FastAPI endpoint that streams its events."""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn, ParamSpec, TypeAlias, TypeVar, get_args, get_origin, overload

from fastapi import Depends, Header, Query, Response, params
from starlette.concurrency import run_in_threadpool
from typing_extensions import deprecated

from typedsse.catalog import EventCatalog, StreamKind, stream_annotation
from typedsse.encoding import checked_retry
from typedsse.events import BaseEvent, StreamError
from typedsse.exceptions import EndpointDefinitionError
from typedsse.responses import (
    DEFAULT_PING,
    ErrorHandler,
    EventSource,
    EventStreamResponse,
    checked_headers,
    checked_seconds,
    checked_status,
    is_event_source,
)

_Returned: TypeAlias = EventSource | Awaitable[EventSource]
"""What a function `@sse` takes returns: a stream of events (generators included), or an awaitable of one.

Type checkers then refuse what `@sse` refuses at import when it can be told from the
annotation (`AsyncIterator[int]`, `-> str`); a list of events is an iterable, refused at import only.
"""

__all__ = ["LastEventId", "StreamEndpoint", "last_event_id", "reads_last_event_id", "sse", "stream_endpoint"]

P = ParamSpec("P")
R = TypeVar("R")


def last_event_id(
    header: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event the client received; the stream resumes after it.",
        ),
    ] = None,
    query: Annotated[
        str | None,
        Query(
            alias="lastEventId",
            description="The same as the `Last-Event-ID` header, for clients that cannot set headers.",
        ),
    ] = None,
) -> str | None:
    """Return the client's last event id: the `Last-Event-ID` header, else `lastEventId` in the query.

    Browsers send the header when an `EventSource` reconnects; polyfills that cannot set
    headers send the query parameter. An empty value means "no id", as in the SSE spec.
    """
    if header is not None and not header.isascii():
        # Clients send the id encoded as UTF-8 (the SSE spec says so); Starlette decodes header
        # bytes as Latin-1. Bytes that are not UTF-8 cannot be an id the stream sent: kept as is.
        with contextlib.suppress(UnicodeError):
            header = header.encode("latin-1").decode("utf-8")
    value = header if header is not None else query
    return value or None


LastEventId = Annotated[str | None, Depends(last_event_id)]
"""An endpoint parameter holding the id the client resumes from, or `None` on a first connection.

Example:
    ```python
    @app.get("/echo")
    @sse()
    async def echo(last_event_id: LastEventId = None) -> AsyncIterator[Echo]:
        if last_event_id and not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) < 10):
            raise HTTPException(400, "Last-Event-ID is not an id this stream sent")  # a client can send anything
        start = int(last_event_id) + 1 if last_event_id else 0
        ...
    ```
"""


@dataclass(frozen=True, slots=True)
class StreamEndpoint:
    """What `@sse` knows about an endpoint; the OpenAPI plugin and generators read it.

    Attributes:
        name: The endpoint's qualified name.
        kind: Whether the function produces an async or a sync stream.
        catalog: The declared event union.
        error_events: The events a failed stream may end with (built-in or `on_error`'s).
        resumable: Whether the endpoint takes a `LastEventId` parameter, or a dependency of it does.
        ping: Seconds of silence before a keep-alive comment, or `None`.
        retry: The reconnection delay sent at the start, in milliseconds, or `None`.
        status_code: The status a successful stream is sent with.
        headers: The extra response headers `@sse(headers=...)` gives every stream.
    """

    name: str
    kind: StreamKind
    catalog: EventCatalog
    error_events: tuple[type[BaseEvent[Any]], ...]
    resumable: bool
    ping: float | None
    retry: int | None
    status_code: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def events(self) -> EventCatalog:
        """Every event the stream may send: its union and its error events."""
        return self.catalog.with_events(*self.error_events, where=self.name)


_APPLIED = "__typedsse_applied__"
_NO_FUNCTION: Any = object()  # what `sse` gets as its function when called as it should be
"""The attribute `@sse` sets on the function it decorates (not on the endpoint it returns)."""


def sse_applied_to(func: Callable[..., Any]) -> bool:
    """Whether `@sse` was applied to `func` itself: `func` is a stream function, not the endpoint made of it.

    FastAPI serving such a function (`@sse` above the route decorator) serves it without `@sse`.
    A `functools.partial` of one is one too.
    """
    while isinstance(func, functools.partial):
        func = func.func  # pyright: ignore[reportUnknownMemberType]
    return getattr(func, _APPLIED, False) is True


def stream_endpoint(endpoint: Callable[..., Any]) -> StreamEndpoint | None:
    """Return what `@sse` recorded about `endpoint`, or `None` if it is not an `@sse` endpoint.

    A `functools.partial` of an `@sse` endpoint (routed as FastAPI allows) is one too.
    """
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func  # pyright: ignore[reportUnknownMemberType]
    spec = getattr(endpoint, "__typedsse_endpoint__", None)
    return spec if isinstance(spec, StreamEndpoint) else None


@overload
def sse(
    *,
    ping: float | None = DEFAULT_PING,
    retry: int | None = None,
    headers: Mapping[str, str] | None = None,
    send_timeout: float | None = None,
    status_code: int = 200,
    on_error: ErrorHandler | None = None,
) -> Callable[[Callable[P, _Returned]], Callable[P, Coroutine[Any, Any, EventStreamResponse]]]: ...
@overload
@deprecated("@sse needs its parentheses: write @sse() (or @sse(ping=15), ...)")
def sse(function: Callable[..., Any], /) -> NoReturn: ...
def sse(
    function: object = _NO_FUNCTION,
    /,
    *,
    ping: float | None = DEFAULT_PING,
    retry: int | None = None,
    headers: Mapping[str, str] | None = None,
    send_timeout: float | None = None,
    status_code: int = 200,
    on_error: ErrorHandler | None = None,
) -> Callable[[Callable[P, _Returned]], Callable[P, Coroutine[Any, Any, EventStreamResponse]]]:
    """Turn a typed stream function into an endpoint that streams its events as SSE.

    Put it below the route decorator, so FastAPI sees the function's own parameters (path,
    query, headers, body, `Depends`, `Request`, `BackgroundTasks`) but not its stream return
    type. The function may be an async generator, a sync generator (run on a thread of its own),
    or a function returning an async iterable such as an operator pipeline. Its return
    annotation declares the events it sends (`AsyncIterator[Echo | ReverseEcho]`); anything
    else it yields ends the stream with an error event.

    Example:
        ```python
        @app.get("/echo")
        @sse(ping=15)
        async def echo(message: str) -> AsyncIterator[Echo | ReverseEcho]:
            yield Echo(data=EchoPayload(message=message, created_at=datetime.now(UTC)))
        ```

    Args:
        function: Never given: it is what `@sse` without parentheses would pass, refused with
            a message saying to write `@sse()`.
        ping: Seconds of silence before a keep-alive comment; `None` turns keep-alives off.
            Headers wait for the first event for at most this long.
        retry: A reconnection delay in milliseconds (an `int` up to `MAX_RETRY`), sent once at
            the start of each stream.
        headers: Extra response headers.
        send_timeout: Seconds a single write (of at most 64 KiB: a larger one goes in slices) may
            take before the client counts as gone.
        status_code: The status of a successful stream; one that allows a body (not 1xx,
            204, 205 or 304).
        on_error: Makes the event that ends a stream failing after it started; annotate its
            return type so the event is documented. The default sends `StreamError`.

    Raises:
        EndpointDefinitionError: The function is not annotated with a stream of events, a member
            of its union is not an event class, or two members share an event name; or an
            option is invalid (out of range, of the wrong type, or a header the stream cannot
            be sent with); or it is written without its parentheses (`@sse`), which type
            checkers also report, as a deprecated use.
    """
    if function is not _NO_FUNCTION:
        # `@sse` with no parentheses passes the function here; without this parameter, Python's
        # own message ("takes 0 positional arguments") would not say what to write.
        where = f"@sse on {getattr(function, '__qualname__', function)!r}"
        raise EndpointDefinitionError(f"{where}: @sse needs its parentheses: write @sse() (or @sse(ping=15), ...)")
    try:
        checked_seconds(ping, "ping")
        if retry is not None:
            checked_retry(retry)
        checked_seconds(send_timeout, "send_timeout")
        checked_status(status_code)
        extra_headers = checked_headers(headers)
    except (TypeError, ValueError) as exc:  # `WireFormatError` is a `ValueError`
        message = str(exc)
        if "does not allow a body" in message:
            message += (
                "; to answer without events (a 204 tells EventSource to stop), raise HTTPException before the first one"
            )
        raise EndpointDefinitionError(message) from None

    def decorate(func: Callable[P, _Returned]) -> Callable[P, Coroutine[Any, Any, EventStreamResponse]]:
        where = f"@sse on {getattr(func, '__qualname__', func)!r}"
        if isinstance(func, staticmethod | classmethod):
            raise EndpointDefinitionError(
                f"{where}: put @sse below @{type(func).__name__}, on the function itself"  # pyright: ignore[reportUnknownArgumentType]
            )
        if not callable(func) or stream_endpoint(func) is not None:
            raise EndpointDefinitionError(f"{where}: decorate a plain function, once")
        if not (inspect.isfunction(func) or inspect.ismethod(func)):
            # Its annotations, name and signature are what @sse reads: a partial has none of its own.
            # A class's type is its metaclass (`ModelMetaclass`), which would name nothing the user wrote.
            refused = (
                "a class is"
                if isinstance(func, type)
                else f"{type(func).__qualname__} objects (functools.partial, callable instances) are"
            )
            raise EndpointDefinitionError(
                f"{where}: {refused} not supported; decorate a function annotated with its stream, which may call it"
            )
        # Annotations may name locals of the defining scope (`Depends(local_dependency)` under
        # `from __future__ import annotations`): that scope is the frame applying this decorator,
        # when it is the one that defined the function. Another one (`sse()(handlers.ticks)` in
        # a routes module) must not lend its names: its `get_db` is not the function's.
        caller = inspect.currentframe()
        applying = caller.f_back if caller is not None else None
        scope = applying.f_locals if applying is not None and _defined_in(func, applying) else {}
        del caller, applying  # a frame kept alive would keep every local of the defining scope alive
        hints = _type_hints(func, where, scope)
        kind, union = stream_annotation(hints.get("return"), where=where)
        _check_function_kind(func, kind, where)
        catalog = EventCatalog.of(union, where=where)
        error_events = _error_events(on_error, where, scope)
        catalog.with_events(*error_events, where=where)  # error events must not collide with the union
        signature, response_parameter, hidden = _endpoint_signature(func, hints)
        spec = StreamEndpoint(
            name=func.__qualname__,
            kind=kind,
            catalog=catalog,
            error_events=error_events,
            resumable=_takes_last_event_id(signature),
            ping=ping,
            retry=retry,
            status_code=status_code,
            headers=types.MappingProxyType(extra_headers),
        )
        accepted = spec.events
        # How the function is called, as FastAPI would: an `async def` is awaited on the loop; a
        # plain `def` returning a stream may block in its setup, so it runs in the threadpool;
        # calling a generator function runs none of its code, so it is called right here. Like
        # FastAPI, a `functools.wraps` wrapper returns a coroutine if it is an `async def` (a
        # guard awaiting a check, around any kind of function) or wraps one (a plain `def`
        # returning its coroutine).
        returns_awaitable = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(inspect.unwrap(func))
        blocks = not (returns_awaitable or inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func))

        async def endpoint(*args: P.args, **kwargs: P.kwargs) -> EventStreamResponse:
            # FastAPI gives the endpoint and its dependencies one `Response` to set headers,
            # cookies and a status on; it ignores it once the endpoint returns a response of its
            # own, so the stream takes what it holds when it starts.
            # Called directly (a test, another endpoint), there is no `Response` to take.
            parameter = typing.cast(
                "Response | None",
                kwargs.pop(response_parameter, None) if hidden else kwargs.get(response_parameter),
            )
            content: Any
            if blocks:
                content = await run_in_threadpool(func, *args, **kwargs)
            else:
                content = func(*args, **kwargs)
                if returns_awaitable:
                    content = await content
            return EventStreamResponse(
                _as_source(content, where),
                catalog=accepted,
                status_code=status_code,
                headers=extra_headers,
                ping=ping,
                retry=retry,
                send_timeout=send_timeout,
                on_error=on_error,
                name=spec.name,
                merge_from=parameter,
            )

        # No `functools.wraps`: FastAPI follows `__wrapped__` and would find the stream
        # annotation. It reads this signature instead: the original parameters, resolved, a
        # `Response` parameter if the function has none (FastAPI leaves it out of OpenAPI), and
        # a `Response` return type, which tells it not to build a response model.
        endpoint.__signature__ = signature  # type: ignore[attr-defined]
        endpoint.__name__ = func.__name__
        endpoint.__qualname__ = func.__qualname__
        endpoint.__module__ = func.__module__
        endpoint.__doc__ = func.__doc__
        endpoint.__typedsse_endpoint__ = spec  # type: ignore[attr-defined]
        # The function is marked too: where FastAPI routes it rather than the endpoint (`@sse`
        # placed above the route decorator), the mark tells the OpenAPI plugin, whatever scope
        # its annotations need. A bound method takes no attributes: its annotation still tells.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(func, _APPLIED, True)
        return endpoint

    return decorate


def _defined_in(func: Callable[..., Any], frame: types.FrameType) -> bool:
    """Whether `frame` runs the scope that defined `func` (its module, class body or enclosing function)."""
    function: Any = inspect.unwrap(getattr(func, "__func__", func))
    if getattr(function, "__globals__", None) is not frame.f_globals:
        return False
    owner = function.__qualname__.rpartition(".")[0].removesuffix(".<locals>")
    return frame.f_code.co_qualname == (owner or "<module>")


def _type_hints(func: Callable[..., Any], where: str, scope: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve `func`'s annotations; one FastAPI does not read may name what is not defined.

    FastAPI resolves what it can and reads the annotation of a parameter whose default is
    `Depends(dependency)` only to find the dependency, which that default names already: an
    import under `if TYPE_CHECKING:` (`db: Session = Depends(get_db)`) serves a plain route,
    so it serves a stream too, left unresolved as FastAPI leaves it.
    """
    localns = dict(scope)
    try:
        return typing.get_type_hints(func, localns=localns, include_extras=True)
    except NameError:
        pass  # one by one below, to tell which
    except (TypeError, SyntaxError) as exc:
        raise _unresolved(where, exc) from exc
    try:
        parameters = inspect.signature(func).parameters
        hints: dict[str, Any] = {}
        for name, annotation in dict(getattr(func, "__annotations__", {})).items():
            try:
                hints[name] = _resolved(func, annotation, localns)
            except NameError:
                parameter = parameters.get(name)
                default = parameter.default if parameter is not None else None
                if not (isinstance(default, params.Depends) and default.dependency is not None):
                    raise
                hints[name] = typing.ForwardRef(annotation) if isinstance(annotation, str) else annotation
    except (NameError, TypeError, SyntaxError) as exc:
        raise _unresolved(where, exc) from exc
    return hints


def _resolved(owner: Callable[..., Any], annotation: object, localns: Mapping[str, Any] | None) -> Any:
    """Resolve one of `owner`'s annotations as `typing.get_type_hints(owner)` would, alone.

    Raises:
        NameError: The annotation names what is not defined in `owner`'s module or `localns`.
    """

    def alone() -> None: ...

    alone.__annotations__ = {"annotation": annotation}
    # `get_type_hints` looks names up in the globals of what a function wraps.
    alone.__wrapped__ = owner  # type: ignore[attr-defined]
    localns = dict(localns) if localns is not None else None
    return typing.get_type_hints(alone, localns=localns, include_extras=True)["annotation"]


def _unresolved(where: str, exc: Exception) -> EndpointDefinitionError:
    return EndpointDefinitionError(
        f"{where}: cannot resolve its annotations ({exc}); define the types it names before the function"
    )


def _check_function_kind(func: Callable[..., Any], kind: StreamKind, where: str) -> None:
    if inspect.isasyncgenfunction(func) and kind != "async":
        raise EndpointDefinitionError(f"{where}: an async generator must be annotated `AsyncIterator[...]`")
    if inspect.isgeneratorfunction(func) and kind != "sync":
        raise EndpointDefinitionError(
            f"{where}: a sync generator must be annotated `Iterator[...]` or `Generator[..., None, None]`"
        )


def _error_events(
    on_error: ErrorHandler | None, where: str, scope: Mapping[str, Any]
) -> tuple[type[BaseEvent[Any]], ...]:
    """Return the events that can end a failed stream: what `on_error` declares, and `StreamError`.

    The catalog checks what `on_error` returns at run time too.
    """
    if on_error is None:
        return (StreamError,)
    if not callable(on_error):
        raise EndpointDefinitionError(f"{where}: on_error must be a callable, got {on_error!r}")
    annotated: Any = on_error
    while isinstance(annotated, functools.partial):
        annotated = annotated.func  # pyright: ignore[reportUnknownMemberType]
    if not inspect.isroutine(annotated) and not isinstance(annotated, type):
        annotated = type(annotated).__call__  # a callable object: its `__call__` is annotated
    returned: Any = None
    try:
        # Only the return annotation is read: the others (the exception's type, maybe imported
        # for type checkers only) are no concern of the stream's. A class's are its attributes'.
        annotations = {} if isinstance(annotated, type) else dict(getattr(annotated, "__annotations__", {}))
        if "return" in annotations:
            try:
                # In the handler's own module first: a name there means what its author meant,
                # even if the endpoint's module has a class of the same name.
                returned = _resolved(annotated, annotations["return"], None)
            except NameError:
                # A handler defined in a function (an app factory) names that function's locals:
                # resolved like the endpoint's own annotations, in the scope applying the decorator.
                returned = _resolved(annotated, annotations["return"], scope)
    except (NameError, TypeError, SyntaxError) as exc:
        handler = getattr(on_error, "__qualname__", on_error)
        raise EndpointDefinitionError(
            f"{where}: cannot resolve the return annotation of on_error {handler!r} ({exc}); "
            "define the types it names before the endpoint"
        ) from exc
    if get_origin(returned) in (Awaitable, Coroutine, typing.Awaitable, typing.Coroutine):
        returned = get_args(returned)[-1]
    if returned is None:
        # Unannotated: it may return the built-in event; document that one.
        return (StreamError,)
    members = [m for m in EventCatalog.members(returned) if m is not type(None)]
    declared = EventCatalog.from_classes(members, where=f"{where} (on_error)").events
    # When `on_error` itself fails, or returns what it does not declare, the built-in event is
    # sent instead: it is one of the stream's events too, and clients must know it ends the stream.
    return declared if StreamError in declared else (*declared, StreamError)


def _takes_last_event_id(signature: inspect.Signature) -> bool:
    """Whether the endpoint reads `Last-Event-ID`: a `LastEventId` parameter, or a dependency that has one."""
    if any(_is_last_event_id(p.annotation) for p in signature.parameters.values()):
        return True

    def endpoint() -> None: ...

    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    try:
        # FastAPI's own view of the dependency tree: classes, `Depends()` on an annotation,
        # `Security`. Not public API: imported here, so that a FastAPI that moved it only loses
        # this check.
        from fastapi.dependencies.utils import get_dependant

        tree = get_dependant(path="", call=endpoint)
    except Exception:  # FastAPI will say what is wrong with the endpoint when the route is added
        return False
    return reads_last_event_id(tree)


def reads_last_event_id(dependant: Any) -> bool:
    """Whether a FastAPI dependency tree (an `APIRoute.dependant`, say) has a `LastEventId` in it."""
    pending = list(getattr(dependant, "dependencies", ()))
    while pending:
        dependency = pending.pop()
        if dependency.call is last_event_id:
            return True
        pending.extend(dependency.dependencies)
    return False


def _is_last_event_id(annotation: Any) -> bool:
    return get_origin(annotation) is Annotated and any(
        getattr(meta, "dependency", None) is last_event_id for meta in annotation.__metadata__
    )


def _endpoint_signature(func: Callable[..., Any], hints: Mapping[str, Any]) -> tuple[inspect.Signature, str, bool]:
    """Return the signature FastAPI reads, the name of its `Response` parameter, and whether `@sse` added it.

    FastAPI passes its `Response` to one parameter only, so a function's own is reused; an added
    one gets a name none of the function's parameters has.
    """
    signature = inspect.signature(func)
    parameters = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    for parameter in parameters:
        if _is_response(parameter):
            return (
                signature.replace(parameters=parameters, return_annotation=EventStreamResponse),
                parameter.name,
                False,
            )
    name = "typedsse_response"
    while name in signature.parameters:
        name = "_" + name
    hidden = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
    variadic = [p for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD]  # `**kwargs` stays last
    parameters = [p for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD] + [hidden, *variadic]
    return signature.replace(parameters=parameters, return_annotation=EventStreamResponse), name, True


def _is_response(parameter: inspect.Parameter) -> bool:
    """Whether FastAPI passes its `Response` to `parameter`: typed `Response`, and not a dependency."""
    annotation, metadata = parameter.annotation, [parameter.default]
    while get_origin(annotation) is Annotated:
        metadata.extend(annotation.__metadata__)
        annotation = get_args(annotation)[0]
    if any(isinstance(marker, params.Depends) for marker in metadata):
        return False  # `Annotated[Response, Depends(...)]`: a dependency that returns a response
    return isinstance(annotation, type) and issubclass(annotation, Response)


def _as_source(content: object, where: str) -> EventSource:
    if is_event_source(content):
        return typing.cast(EventSource, content)
    raise EndpointDefinitionError(f"{where}: the function returned {type(content).__qualname__}, not a stream")
