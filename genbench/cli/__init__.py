"""The ``genbench`` command line. Thin: parses, calls the library, renders.

- ``genbench/cli/__init__.py``: the root app, ``main`` (errors become one line), ``--debug``, ``--version``;
- ``run.py``: the commands that train and score (run, resume, eval), added here;
- ``views.py``: the read-only views (runs, show, leaderboard, plugins, models, benchmarks, datasets,
  metrics), a built-in plugin added through ``genbench_register_commands`` like any plugin's commands;
- ``options.py`` (option types, choices, opening the store), ``output.py`` (consoles, tables that fit,
  progress) and ``guard.py`` (a plugin's broken command never breaks another's).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from genbench.cli import run as _run_commands
from genbench.cli.options import Status
from genbench.cli.output import err_console
from genbench.errors import GenbenchError, PluginFault, ProcessLost
from genbench.validate import mask_url

try:  # typer >= 0.20 vendors click; its exceptions are what a parse error raises
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

app = typer.Typer(
    name="genbench",
    help="Train, evaluate and rank generative models under standard protocols.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

_run_commands.register(app)
_CORE_COMMANDS = list(app.registered_commands)  # the plugins' commands come and go with the plugin set
_state: dict[str, bool] = {"debug": False}
__all__ = ["Status", "app", "main"]


def _debug() -> bool:
    return _state["debug"] or os.environ.get("GENBENCH_DEBUG", "") not in ("", "0")


def _version(value: bool) -> None:
    if value:
        from genbench import __version__

        print(f"genbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print genbench's version and exit.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Print the traceback when a plugin fails (or set GENBENCH_DEBUG=1)."),
    ] = False,
) -> None:
    """Train, evaluate and rank generative models under standard protocols."""
    _state["debug"] = debug


def _add_plugin_commands() -> None:
    """Each plugin adds its commands, the built-in views first; a plugin whose registration fails is
    listed as broken by `genbench plugins` and every other command still works. Called again (tests,
    another plugin set), it starts from the core's commands."""
    app.registered_commands[:] = _CORE_COMMANDS
    app.registered_groups.clear()
    from genbench.cli.guard import register_commands
    from genbench.plugins import get_plugins

    try:
        plugins = get_plugins()
    except GenbenchError:
        # No plugin set (e.g. a benchmark declared twice): the views still exist, and say why when run.
        from genbench.cli import views

        views.genbench_register_commands(app=app)
        return
    register_commands(plugins, app)


def main() -> None:
    """Console-script entry point: user errors become one line and exit code 2; a fault inside a
    plugin becomes one line naming it and exit code 1 (`--debug` shows the traceback)."""
    _state["debug"] = "--debug" in sys.argv[1:]
    try:
        _add_plugin_commands()
        code = app(standalone_mode=False)  # typer.Exit(n) returns n here
        sys.exit(code if isinstance(code, int) else 0)
    except click_exceptions.NoArgsIsHelpError as exc:  # `genbench` alone: the help, as click prints it
        print(exc.format_message())
        sys.exit(2)
    except click_exceptions.UsageError as exc:
        # One line like every other bad input (click draws a box): what was wrong, and where help is.
        from rich.markup import escape

        message = exc.format_message().replace("Value error, ", "")
        where = f"`{exc.ctx.command_path} --help`" if exc.ctx is not None else "`genbench --help`"
        err_console.print(
            f"[red]error:[/] {escape(message)} ({where} lists the options)", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except GenbenchError as exc:
        from rich.markup import escape  # messages may hold [brackets], e.g. genbench[postgres]

        err_console.print(f"[red]error:[/] {escape(mask_url(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (PluginFault, ProcessLost) as exc:
        from rich.markup import escape  # a library's message may hold [brackets] (gloo: [pair.cc:561])

        if _debug():
            traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
        hint = "" if _debug() else " (--debug shows the traceback)"
        err_console.print(f"[red]error:[/] {escape(mask_url(str(exc)))}{hint}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
