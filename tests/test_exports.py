from __future__ import annotations

import importlib
import pkgutil

import typedsse


def test_all_is_sorted_and_complete() -> None:
    assert typedsse.__all__ == sorted(typedsse.__all__, key=_isort_key)
    for name in typedsse.__all__:
        assert getattr(typedsse, name) is not None


def test_every_public_module_declares_its_exports() -> None:
    for module_info in pkgutil.iter_modules(typedsse.__path__):
        if module_info.name.startswith("_") or module_info.ispkg:
            continue
        module = importlib.import_module(f"typedsse.{module_info.name}")
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"typedsse.{module_info.name} has no __all__"
        # ruff's order (RUF022): constants, then classes, then functions, each alphabetical.
        assert list(exported) == sorted(exported, key=_isort_key), f"typedsse.{module_info.name}.__all__ is not sorted"
        for name in exported:
            assert hasattr(module, name), f"typedsse.{module_info.name}.__all__ names missing {name}"


def test_everyday_api_is_reexported_from_the_package() -> None:
    from typedsse import endpoints, events, exceptions, responses

    for module in (events, endpoints, exceptions):
        for name in module.__all__:
            if name[0].isupper() or name in {"sse", "stream_endpoint"}:
                assert name in typedsse.__all__ or name in {"EventEncoding", "EventId"}, name
    assert "EventStreamResponse" in typedsse.__all__
    assert responses.EventStreamResponse is typedsse.EventStreamResponse


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name
