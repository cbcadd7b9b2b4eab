"""`typedsse`: the command line (`typedsse demo | openapi APP | typescript APP`)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import inspect
import os
import secrets
import shutil
import sys
import sysconfig
import threading
import traceback
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from typedsse import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI

    from typedsse.openapi import OpenAPIVersion

__all__ = [
    "app_output_to_stderr",
    "console",
    "load_app",
    "load_fastapi_app",
    "main",
    "process_descriptor",
    "served_document",
    "write_output",
]


_moved_stdout: tuple[Any, int | None] | None = None
"""While `app_output_to_stderr` sends the app's output to standard error: the stream that was
`sys.stdout`, and a descriptor of the standard output that descriptor 1 was moved from (`None`
if it was closed), where `write_output` writes the command's own output."""

_stdout_moved_until_exit = False
"""Set by `console`, whose process ends with the command: descriptor 1 is not moved back, so
that what the app's threads and `atexit` handlers write late goes to standard error too."""

_command_directory: str | None = None
"""While `main` runs a command: the working directory it started in, where a relative `-o`
names its file, even after the app changed directory (`os.chdir`) as it was imported."""

_STANDARD_DESCRIPTORS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def write_output(path: str | None, text: str) -> int:
    """Write a command's output as UTF-8 to `path` (`-o src/events.ts`), or to standard output.

    `-` is standard output too, as for most commands that take a file (`-o -`).

    A regular file is replaced whole once the text is written beside it, in directories made
    where missing: a failure leaves the file that was there (a committed `events.ts`) as it was,
    not emptied. Anything else that is there (a named pipe, a device) is written to as it is.
    A name of one of the process's descriptors (`/dev/stdout`, `/dev/fd/3`) is written to as
    that descriptor, as a shell does: opened anew, it would be a file of its own, replaced or
    truncated, and written from its start (`{ echo x; typedsse ... -o /dev/stdout; } > out`
    lost the `x`).

    While the app's output is sent to standard error (`app_output_to_stderr`), standard output
    (`-o /dev/stdout` too) is the descriptor it was moved from, so that the app's threads,
    still running, write to standard error, never into the output.

    Standard output gets UTF-8 too, whatever the locale's encoding (cp1252 on a Windows console
    or redirect): the document and the TypeScript are UTF-8 files, and `typedsse typescript
    --from` reads the document back as UTF-8.

    Args:
        path: The file, or `None` (or `"-"`) for standard output.
        text: The output.

    Returns:
        The exit status: 0, or 1 with a one-line error when the output cannot be written (1
        alone when standard output is a pipe whose reader has stopped, as `head` does).
    """
    path = "-" if path is None else path
    name = path if _command_directory is None or path == "-" else os.path.join(_command_directory, path)
    descriptor = 1 if path == "-" else process_descriptor(name)
    where = "standard output" if descriptor == 1 else path
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        print(f"error: cannot write {where}: the text is not UTF-8 ({exc.reason})", file=sys.stderr)
        return 1
    if descriptor is not None:
        try:
            if descriptor == 1:
                _write_stdout(text, data)
            else:
                if descriptor == 2:
                    sys.stderr.flush()  # what was written as text comes first
                _write_descriptor(descriptor, data)
        except BrokenPipeError:
            # The reader has stopped (`typedsse openapi APP | head`): end without a word, as
            # the other commands of a pipeline do, but not with success.
            return 1
        except OSError as exc:  # a full disk (`> /dev/full`), a closed descriptor
            print(f"error: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return 0
    partial: Path | None = None
    try:
        target = Path(name)
        if path.endswith(("/", os.sep)) and not target.is_dir():
            # `-o gen/` names a directory, as it does to a shell: `Path` drops the slash, and a file
            # `gen` was written (over the one there, if any).
            if target.exists():
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if target.is_symlink():
            target = target.resolve(strict=False)  # write the file it points to, not over the link
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if target.exists() and not target.is_file():
            with target.open("wb") as special:  # a device or a pipe: no file to replace
                special.write(data)
            return 0
        if not target.parent.exists():
            target.parent.mkdir(parents=True)
        partial, created = _new_partial(target)
        with open(created, "wb") as file:
            file.write(data)
        if target.exists():
            shutil.copymode(target, partial)  # an existing file keeps its permissions
        os.replace(partial, target)
    except (OSError, RuntimeError) as exc:  # no permission, a full disk; a symlink loop (RuntimeError before 3.13)
        _remove(partial)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: cannot write {path}: {reason}", file=sys.stderr)
        return 1
    except BaseException:  # interrupted (Ctrl-C): the file beside the target, half written, goes too
        _remove(partial)
        raise
    return 0


def _remove(partial: Path | None) -> None:
    """Remove the file `_new_partial` made, if any and still there."""
    if partial is not None:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def _new_partial(target: Path) -> tuple[Path, int]:
    """A new file beside `target`, for this write alone, and a descriptor open to write it.

    Its name is its own (`.events.ts.1f2e3d4c.partial`): two commands writing the same file at
    once (two jobs of a parallel `make`) shared `.events.ts.partial`, and one moved the other's
    text, or half of it, into place, while the other failed. Each now replaces the file whole.
    Made as `open` makes a file, with the umask's permissions, which `os.replace` gives the file
    written: `tempfile.mkstemp`'s are its owner's alone.

    The part of its name taken from the target's is cut to keep it within the longest name the
    file system takes (255 bytes on most): a target named with 238 bytes or more, which the file
    system takes, failed with "File name too long".
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # O_BINARY: no `\r\n` on Windows
    stem = target.name
    room = _name_max(target.parent) - len(os.fsencode(f"..{secrets.token_hex(4)}.partial"))
    while len(os.fsencode(stem)) > room and stem:
        stem = stem[:-1]  # a character, not a byte: a UTF-8 name is not cut inside one
    for _ in range(100):
        partial = target.parent / f".{stem}.{secrets.token_hex(4)}.partial"
        try:
            return partial, os.open(partial, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a file beside it")


def _name_max(directory: Path) -> int:
    """The longest file name, in bytes, that `directory`'s file system takes (255 where it does not say)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # AttributeError: no `pathconf` on Windows
        limit = os.pathconf(directory, "PC_NAME_MAX")
        if limit > 0:
            return limit
    return 255


def process_descriptor(path: str) -> int | None:
    """The descriptor of the process `path` names (`/dev/stdout`, `/dev/fd/3`, `/proc/self/fd/1`), or `None`."""
    name = os.path.abspath(path)
    if name in _STANDARD_DESCRIPTORS:
        return _STANDARD_DESCRIPTORS[name]
    folder, _, number = name.rpartition("/")
    if folder in {"/dev/fd", "/proc/self/fd", f"/proc/{os.getpid()}/fd"} and number.isdigit():
        return int(number)
    return None


def _write_descriptor(descriptor: int, data: bytes) -> None:
    """Write all of `data` to `descriptor`, which may take it in parts (a pipe)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _write_stdout(text: str, data: bytes) -> None:
    """Write `data` (`text` as UTF-8) to standard output's bytes, not through its encoding."""
    stdout = sys.stdout
    if _moved_stdout is not None:
        stdout, saved = _moved_stdout
        if saved is not None and _fileno(stdout) == 1:
            # Its descriptor is standard error's now, until the process ends: write to the one moved.
            _write_descriptor(saved, data)
            return
    if stdout is None:  # started with its descriptor closed (`>&-`): Python sets no stream
        raise OSError(errno.EBADF, "it is closed")
    buffer: Any = getattr(stdout, "buffer", None)
    if buffer is None:  # replaced by a stream of text alone (a `StringIO`): it takes the text
        stdout.write(text)
        return
    stdout.flush()  # what was written as text comes first
    buffer.write(data)
    buffer.flush()


def _fileno(stream: Any) -> int | None:
    """The descriptor `stream` writes to, or `None` (a `StringIO`, a stream closed, `None`)."""
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None


@contextlib.contextmanager
def app_output_to_stderr() -> Generator[None]:
    """Send what the app writes to standard output, while it is imported and documented, to standard error.

    Standard output is the command's own (the document, the TypeScript), redirected to a file
    in a build. `sys.stdout` goes to `sys.stderr` (`print`, `logging.basicConfig(stream=sys.stdout)`),
    and so does the descriptor beneath it, which Python's stream does not see: a child process
    the app starts while it is imported (`subprocess.run(["git", "describe"])`, `os.system`)
    writes to it, as a C library's `printf` does.

    The command writes its output (`write_output`) inside the block, to the descriptor moved.
    Run as the `typedsse` command (`console`), descriptor 1 then stays on standard error until
    the process ends: a thread the app started goes on running (a daemon printing every second,
    a handler registered with `atexit`), and what it writes after the output must not be
    appended to `openapi.json`. Called in a process that goes on (`main`), it is moved back.
    """
    global _moved_stdout
    with contextlib.suppress(OSError, ValueError):  # ValueError: a stream already closed
        for stream in (sys.stdout, sys.__stdout__):
            if stream is not None:
                stream.flush()  # what was written before goes where it was meant to
    try:
        saved: int | None = os.dup(1)
    except OSError:  # standard output closed (`>&-`): nothing to keep clean
        saved = None
    if saved is not None:
        try:
            # Python found standard error closed when it started (`2>&-`) if it has no stream
            # for it; the descriptor may have been reused for a file since.
            if sys.__stderr__ is None:
                raise OSError(errno.EBADF, "standard error is closed")
            os.dup2(sys.__stderr__.fileno(), 1)
        except (OSError, ValueError):  # no standard error: the app's output is dropped, as Python's is
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
    _moved_stdout = (sys.stdout, saved)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _moved_stdout = None
        if saved is not None:
            with contextlib.suppress(OSError, ValueError):
                if sys.__stdout__ is not None:  # written to as itself, buffered: to standard error too
                    sys.__stdout__.flush()
            if not _stdout_moved_until_exit:
                os.dup2(saved, 1)
            os.close(saved)  # the last descriptor of the output, once moved for good: its reader sees its end


def load_app(target: str, *, app_dir: str | None = None) -> Any:
    """Import `module:attribute` (as uvicorn does) and return the attribute.

    Args:
        target: `MODULE:APP`, as uvicorn takes it.
        app_dir: The directory to import `MODULE` from, put first in `sys.path` (uvicorn's
            `--app-dir`: `src` for a project laid out as `src/yourpackage/`); by default the
            current directory.

    Raises:
        SystemExit: The target is malformed, cannot be imported (including when the module
            raises, or calls `sys.exit()`, while it is imported) or has no such attribute; with
            a message, no traceback.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"error: expected MODULE:APP (for example examples.echo:app), got {target!r}")
    if module_name.startswith("."):
        raise SystemExit(f"error: expected MODULE:APP with an absolute module name, got {target!r}")
    if app_dir is not None:
        # Absolute: an app that changes the working directory as it is imported still finds
        # the rest of its package there.
        sys.path.insert(0, os.path.abspath(app_dir))
    elif "" not in sys.path:
        sys.path.insert(0, "")  # like uvicorn: apps in the current directory are importable
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:  # a script's `sys.exit()`: status 0 would pass for success with no output
        raise SystemExit(f"error: importing {module_name!r} ended the program{_where(exc)}: {_exit_call(exc)}") from exc
    except (ImportError, SyntaxError) as exc:
        # A module the app imports is missing: the app's line importing it (none when the module
        # named is what cannot be found; a syntax error's message says where it is).
        where = _where(exc, own_only=True) if isinstance(exc, ImportError) else ""
        raise SystemExit(f"error: cannot import {module_name!r}{where}: {_one_line(exc)}") from exc
    except Exception as exc:  # the module's own code failed: say what and where, without a traceback
        raise SystemExit(
            f"error: importing {module_name!r} failed{_where(exc)}: {type(exc).__qualname__}: {_one_line(exc)}"
        ) from exc
    try:
        value: Any = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except AttributeError as exc:
        raise SystemExit(f"error: {module_name!r} has no attribute {attribute!r}") from exc
    return value


def load_fastapi_app(target: str, *, factory: bool = False, app_dir: str | None = None) -> FastAPI:
    """Import `module:attribute` and return the FastAPI application it names, or that it makes.

    Args:
        target: `MODULE:APP`, as uvicorn takes it.
        factory: `APP` is a function of no arguments that returns the application (uvicorn's
            `--factory`): call it.
        app_dir: The directory to import `MODULE` from (`load_app`).

    Raises:
        SystemExit: `load_app` fails, the factory raises (or calls `sys.exit()`), or what is
            found is no FastAPI application; with a one-line message.
    """
    from fastapi import FastAPI

    value = load_app(target, app_dir=app_dir)
    if factory:
        if isinstance(value, FastAPI):  # callable too, as an ASGI app: called, it fails on its arguments
            raise SystemExit(f"error: {target} is a FastAPI application, not an app factory (drop --factory)")
        if not callable(value):
            raise SystemExit(f"error: {target} is {_a(value)}, not an app factory")
        try:
            value = value()
        except SystemExit as exc:  # as for an import: no app, whatever the status
            raise SystemExit(f"error: calling {target} ended the program{_where(exc)}: {_exit_call(exc)}") from exc
        except Exception as exc:  # the factory's own code failed: say what and where
            raise SystemExit(
                f"error: calling {target} failed{_where(exc)}: {type(exc).__qualname__}: {_one_line(exc)}"
            ) from exc
        if inspect.iscoroutine(value):  # an `async def` factory: closed, Python does not warn it was never awaited
            value.close()
            raise SystemExit(
                f"error: {target} returned a coroutine, not a FastAPI application "
                "(an async factory? make it a plain function, as uvicorn's --factory needs)"
            )
        if not isinstance(value, FastAPI):
            raise SystemExit(f"error: {target} returned {_a(value)}, not a FastAPI application")
        return value
    if isinstance(value, FastAPI):
        return value
    hint = " (an app factory? pass --factory)" if inspect.isfunction(value) else ""
    raise SystemExit(f"error: {target} is {_a(value)}, not a FastAPI application{hint}")


def served_document(app: FastAPI, version: OpenAPIVersion | None = None) -> dict[str, Any]:
    """The OpenAPI document `app` serves, with its event streams; or, in `version`, built anew.

    That is `install`'s document, or the app's own `openapi` built on `document` (as the
    OpenAPI page shows). An app that serves FastAPI's plain document gets the one `install`
    would build, and is left as it is; so does every app when `version` is given. As FastAPI's
    `/openapi.json` does, an app's `root_path` comes first in `servers`.

    Raises:
        SystemExit: The app's own `openapi` fails (other than with typedsse's or Pydantic's
            error about the app's definitions, raised as they are) or returns something other
            than a document (a dict); with a one-line message.
    """
    from fastapi import FastAPI
    from pydantic.errors import PydanticUserError

    from typedsse.exceptions import TypedSSEError
    from typedsse.openapi import document

    if version is None and getattr(app.openapi, "__func__", None) is not FastAPI.openapi:
        try:
            served = cast("object", app.openapi())  # typed as a dict: the app's own may return anything
        except (TypedSSEError, PydanticUserError):
            raise
        except Exception as exc:  # the app's own code failed: say what and where, as for its import
            raise SystemExit(
                f"error: the app's openapi() failed{_where(exc)}: {type(exc).__qualname__}: {exc}"
            ) from exc
        if not isinstance(served, dict):
            raise SystemExit(f"error: the app's openapi() returned {_a(served)}, not an OpenAPI document (a dict)")
        result = cast("dict[str, Any]", served)
    else:
        result = document(app, version=version)
    root_path = (getattr(app, "root_path", "") or "").rstrip("/")
    servers: list[Any] = list(result.get("servers") or [])
    if root_path and getattr(app, "root_path_in_servers", True) and root_path not in {s.get("url") for s in servers}:
        # Where FastAPI's handler puts it: first, in `servers`, which follows `info`.
        ordered = {key: value for key, value in result.items() if key != "servers"}
        keys = list(ordered)
        at = keys.index("info") + 1 if "info" in keys else len(keys)
        result = {
            **{key: ordered[key] for key in keys[:at]},
            "servers": [{"url": root_path}, *servers],
            **{key: ordered[key] for key in keys[at:]},
        }
    return result


def _a(value: object) -> str:
    """`a function`, `an int`: what `value` is, for a message."""
    name = "function" if inspect.isfunction(value) else type(value).__qualname__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _exit_call(exc: SystemExit) -> str:
    """`sys.exit(0)`, `sys.exit('no settings')`: the call that raised `exc`, for a message."""
    return "sys.exit()" if exc.code is None else f"sys.exit({exc.code!r})"


def _one_line(exc: BaseException) -> str:
    """`exc`'s message on one line: a settings class's `ValidationError` at import spans several."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _where(exc: BaseException, *, own_only: bool = False) -> str:
    """Return ` at FILE, line N` for the innermost line of the app's own code that `exc` passed through.

    Without such a line, the innermost line of a library the app uses (unless `own_only`);
    never one of typedsse's: a factory called with the wrong arguments fails before its first
    line, where typedsse calls it, and the app's mistake is not there.
    """
    paths = sysconfig.get_paths()
    library = tuple(paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib"))
    package = os.path.join(Path(__file__).parent, "")  # `typedsse/`, not `typedsse_app/` beside it
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not frame.filename.startswith(package)]
    own = [frame for frame in frames if not frame.filename.startswith(("<", *library))]
    candidates = own if own_only else own or frames
    if not candidates:
        return ""
    frame = candidates[-1]
    path = Path(frame.filename)
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return f" at {path}, line {frame.lineno}"


def _port(text: str) -> int:
    """A TCP port for argparse: 0 (any free one) to 65535, refused with a usage message otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def _directory(text: str) -> str:
    """An existing directory for argparse (`--app-dir`): a typo is refused as such, not as a module not found.

    `""` is the current directory, as uvicorn's `--app-dir` takes it (its default).
    """
    if text and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


def _file(text: str) -> str:
    """A file name for argparse (`-o`, `--from`): an empty one is refused as such.

    It is an unset variable (`-o "$OUT"`, `-o $(OUT)` in a Makefile), not a name: taken as the
    current directory, it failed with "Is a directory" (`-o ""` as "cannot write : ...").
    """
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty")
    return text


_OUTPUT_HELP = "write to this file instead of stdout (- is stdout)"
_APP_DIR_HELP = "import MODULE from this directory, as uvicorn's --app-dir (default: the current directory)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="typedsse", description="Typed Server-Sent Events for FastAPI.")
    # Before a command only: after `openapi`, `--version` is the OpenAPI version to emit.
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="serve the demo app and its page (in a clone of the repository: it serves its examples)",
    )
    demo.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)")
    demo.add_argument("--port", type=_port, default=8000, help="the port, 0 for any free one (default: %(default)s)")

    openapi = commands.add_parser("openapi", help="print or write an app's OpenAPI document")
    openapi.add_argument("app", metavar="MODULE:APP")
    openapi.add_argument("--factory", action="store_true", help="APP is a function that returns the app: call it")
    openapi.add_argument("--app-dir", type=_directory, default=None, help=_APP_DIR_HELP)
    openapi.add_argument("--version", choices=["3.1", "3.2"], default=None, help="OpenAPI version to emit")
    openapi.add_argument("-o", "--output", type=_file, default=None, help=_OUTPUT_HELP)

    typescript = commands.add_parser("typescript", help="generate TypeScript event types and a subscribe client")
    typescript.add_argument("app", metavar="MODULE:APP", nargs="?")
    typescript.add_argument("--factory", action="store_true", help="APP is a function that returns the app: call it")
    typescript.add_argument("--app-dir", type=_directory, default=None, help=_APP_DIR_HELP)
    typescript.add_argument(
        "--from",
        dest="source",
        type=_file,
        default=None,
        help="read a saved openapi.json instead (- for standard input)",
    )
    typescript.add_argument("-o", "--output", type=_file, default=None, help=_OUTPUT_HELP)

    args = parser.parse_args(argv)
    command: Any = importlib.import_module(f"typedsse._cli_{args.command}")
    global _command_directory
    started_in = _command_directory
    with contextlib.suppress(OSError):  # a working directory removed: relative names fail as they would
        _command_directory = os.getcwd()
    try:
        status: int = command.run(args)
    except argparse.ArgumentError as exc:  # an argument found wrong as it is used (`--from` names no file)
        commands.choices[args.command].error(str(exc))
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(exc.code, file=sys.stderr)  # a one-line error (`load_fastapi_app`): no traceback
        return 1
    finally:
        _command_directory = started_in
    return status


def console() -> NoReturn:
    """The `typedsse` command: `main`, then an exit that does not wait for the app's threads.

    Python waits at exit for every thread that is not a daemon: an app that starts one while it
    is imported or made (a scheduler, a metrics pusher, a client's background loop) would keep
    `typedsse openapi` running after its output is written, and a CI job with it, for ever. The
    command says so on standard error and ends without them. Interrupted (Ctrl-C), it says so in
    one line and ends with status 130, without waiting for them either.
    """
    global _stdout_moved_until_exit
    _stdout_moved_until_exit = True
    if sys.stderr is None:
        # Started with standard error closed (`2>&-`), Python sets no stream for it, and `print`
        # to `None` writes to standard output: an error went into the output (`> events.ts`).
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - open until the process ends
    try:
        status = main()
    except KeyboardInterrupt:
        # Ctrl-C (an app slow to import, a forgotten `--from` waiting on the terminal): what the
        # user asked for, so no traceback, and no wait for the app's threads, which made a second
        # Ctrl-C necessary. 130 is what a shell reports for a command ended by SIGINT.
        print("interrupted", file=sys.stderr)
        status = 130
    except Exception:
        if not _threads_left():
            raise
        traceback.print_exc()  # as Python would print it, before ending without the threads
        status = 1
    left = _threads_left()
    if not left:
        raise SystemExit(status)
    names = ", ".join(repr(thread.name) for thread in left)
    print(
        f"warning: the app left {len(left)} thread{'s' if len(left) > 1 else ''} running ({names}); "
        "ending without waiting for them",
        file=sys.stderr,
    )
    with contextlib.suppress(Exception):
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    os._exit(status)


def _threads_left() -> list[threading.Thread]:
    """The threads Python would wait for at exit: alive, not daemons, not the main thread."""
    return [thread for thread in threading.enumerate() if not thread.daemon and thread is not threading.main_thread()]


if __name__ == "__main__":  # pragma: no cover
    console()
