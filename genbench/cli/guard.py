"""Checks on the commands a plugin adds, so that one plugin's mistake never breaks another's command.

typer builds every command only when the app runs: a command it cannot build (a parameter type it
does not know) would fail ``genbench`` as a whole, and a name taken twice would silently replace
the first command. :func:`check_new_commands` builds a plugin's commands right after it adds them;
:func:`guard_commands` makes a command that raises while it runs a fault naming its plugin.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import typer
import typer.core
import typer.main
from typer.models import CommandInfo

from genbench.errors import GenbenchError, PluginFault

if TYPE_CHECKING:
    from genbench.plugins import Plugins


def command_names(app: typer.Typer, commands: int = 0, groups: int = 0, *, build: bool = True) -> set[str]:
    """The names of ``app``'s commands and groups from the ``commands``-th command and the
    ``groups``-th group on, built as ``genbench`` will build them: raises if typer cannot.
    ``build=False`` reads the names only (genbench's own commands: tested, and start-up stays fast)."""
    if not build:
        names = {_command_name(c) for c in app.registered_commands[commands:]}
        for g in app.registered_groups[groups:]:
            names.add(g.name or (g.typer_instance.info.name if g.typer_instance else None) or "")
        return names - {""}
    probe = typer.Typer(add_completion=False)
    probe.callback()(_nothing)  # a group, even when there is one command
    probe.registered_commands = app.registered_commands[commands:]
    probe.registered_groups = app.registered_groups[groups:]
    group = typer.main.get_command(probe)
    assert isinstance(group, typer.core.TyperGroup)
    return set(group.commands)


def check_new_commands(
    app: typer.Typer, commands: int, groups: int, taken: set[str], callback: object, *, build: bool = True
) -> set[str]:
    """The names of the commands and groups a plugin added (``app`` had ``commands`` commands and
    ``groups`` groups before). Raises when one cannot be built (``build``), takes a name in ``taken``,
    or the plugin replaced the root callback (was ``callback``)."""
    if app.registered_callback is not callback:
        raise GenbenchError("it replaced the root callback (`genbench --version`, `--debug`)")
    names = command_names(app, commands, groups, build=build)
    twice = sorted(names & taken)
    if twice:
        raise GenbenchError(f"command {', '.join(map(repr, twice))} is already registered by another plugin")
    return names


def _command_name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    return typer.main.get_command_name(info.callback.__name__) if info.callback else ""


def _nothing() -> None:
    """A placeholder root callback."""


def guard_commands(app: typer.Typer, commands: int, groups: int, origin: str) -> None:
    """Make the commands (and groups' commands) added since ``commands``/``groups`` turn an
    unexpected exception into a PluginFault naming ``origin``."""
    for info in app.registered_commands[commands:]:
        _guard(info, origin)
    for group in app.registered_groups[groups:]:
        if group.typer_instance is not None:
            guard_commands(group.typer_instance, 0, 0, origin)


def _guard(info: CommandInfo, origin: str) -> None:
    callback = info.callback
    if callback is None:
        return
    name = _command_name(info)

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (GenbenchError, PluginFault, typer.TyperException, typer.Exit, typer.Abort):
            raise  # the plugin telling the user something, a fault already named, or typer's own way out
        except Exception as exc:
            raise PluginFault(
                f"plugin {origin} failed while running `genbench {name}`: {type(exc).__name__}: {exc}"
            ) from exc

    info.callback = guarded


def register_commands(plugins: Plugins, app: typer.Typer) -> None:
    """Let each plugin add its commands, built-ins (the core's views) first, one plugin at a time.

    A plugin whose registration raises (even ``sys.exit``), adds a command typer cannot build,
    replaces the root callback or takes a name another plugin already has is marked broken and
    its commands are taken out again: every other command still works. A plugin's command that
    raises when it runs is a :class:`PluginFault` naming the plugin.
    """
    taken = command_names(app, build=False)  # the core's own: run, resume, eval
    for impl in plugins.manager.hook.genbench_register_commands.get_hookimpls():
        info = plugins.info_of(impl.plugin_name)
        if info is not None and info.error:
            continue
        commands, groups, callback = (
            len(app.registered_commands),
            len(app.registered_groups),
            app.registered_callback,
        )
        try:
            impl.function(app=app)
            builtin = info is not None and info.builtin
            names = check_new_commands(app, commands, groups, taken, callback, build=not builtin)
        except (Exception, SystemExit) as exc:
            del app.registered_commands[commands:]
            del app.registered_groups[groups:]
            app.registered_callback = callback
            if info is not None:
                info.error = f"genbench_register_commands failed: {type(exc).__name__}: {exc}"
            continue
        taken |= names
        if info is not None:
            info.registers.setdefault("commands", []).extend(sorted(names))
        if info is None or not info.builtin:  # a fault in a built-in command is genbench's: a traceback
            guard_commands(app, commands, groups, info.origin if info else impl.plugin_name)
