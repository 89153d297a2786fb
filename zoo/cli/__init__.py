"""The ``zoo`` command line.

Only click and zoo's light modules are imported here, so ``zoo --help`` does
not import torch; each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from zoo.core.errors import StorageError, ZooError

INTERRUPTED_EXIT = 130


class ZooGroup(click.Group):
    """Turns zoo's errors into one line on stderr and a non-zero exit, never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept so results can record the command that made them, however zoo was invoked.
        ctx.meta["zoo.argv"] = list(args)
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with its usage errors on one line like every other error (exit code 2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            if isinstance(exc, click.NoSuchOption) and exc.option_name in GLOBAL_OPTIONS:
                where = f" ({exc.option_name} is a global option: give it before the command, e.g. `zoo " \
                        f"{exc.option_name} ... {exc.ctx.info_name if exc.ctx else 'COMMAND'} ...`)"
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        _forget_earlier_writes()
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            from zoo.core.printable import printable, redact_urls

            # Messages quote what came from outside (server replies, file contents, URLs): one clean line.
            click.echo(f"Error: {printable(redact_urls(str(exc)))}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            from zoo.core.errors import storage_error

            translated = storage_error(exc)
            if translated is None:
                raise
            click.echo(f"Error: {translated}", err=True)
            ctx.exit(translated.exit_code)
        except KeyboardInterrupt:
            click.echo(f"\nInterrupted: {_what_was_recorded()}", err=True)
            ctx.exit(INTERRUPTED_EXIT)


def _forget_earlier_writes() -> None:
    # One process can run several commands (tests, notebooks); each reports only its own writes.
    for module, name in (("zoo_registry.store", "RECORDED"), ("zoo.core.atomic", "WRITTEN")):
        getattr(sys.modules.get(module), name, []).clear()


def _what_was_recorded() -> str:
    """The truth after an interruption: what this process had already recorded or written, if anything."""
    store, atomic = sys.modules.get("zoo_registry.store"), sys.modules.get("zoo.core.atomic")
    done = [*getattr(store, "RECORDED", ()), *getattr(atomic, "WRITTEN", ())]
    if done:
        return f"{', '.join(done)} had already been recorded or written and stays; nothing else was written."
    return "nothing was written."


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="zoo", prog_name="zoo")
@click.option("--strict-plugins", is_flag=True, envvar="ZOO_STRICT_PLUGINS",
              help="Fail when any plugin fails to load, instead of reporting it in `zoo plugins`.")
@click.option("--registry", envvar="ZOO_REGISTRY", metavar="DIRECTORY",
              help="Registry directory (default: $ZOO_HOME/registry).")
@click.option("--model-file", "model_file_refs", multiple=True, metavar="PATH.py:FUNCTION",
              help="Your own Python file whose FUNCTION(num_classes) builds a model, as architecture "
                   "file:STEM.FUNCTION; zoo runs the file (it is your code). Needed again to load what was made "
                   "from it (its sha256 must match). Repeatable.")
@click.pass_context
def main(ctx: click.Context, strict_plugins: bool, registry: str | None, model_file_refs: tuple[str, ...]) -> None:
    """Turn a float CNN into an int8 model, measure what it cost, and keep and share the result.

    \b
    Quick start (offline, about 3 minutes on 2 cores):
      zoo quantize mobilenet_v2 --preset fbgemm-histogram
    \b
    See what is available:
      zoo models      architectures          zoo presets   quantization recipes
      zoo datasets    evaluation datasets    zoo plugins   where each came from

    \b
    Keep and share what you made:
      zoo list        the registry          zoo compare A B   side by side
      zoo push NAME   to the Hugging Face Hub   zoo pull resnet18-int8

    Environment: ZOO_HOME (data directory, default ~/.local/share/zoo),
    ZOO_REGISTRY, ZOO_PLUGINS (comma list of plugins to load; empty loads none),
    ZOO_STRICT_PLUGINS=1, ZOO_NO_PROGRESS=1, ZOO_HUB_NAMESPACE (default Hub
    namespace), and huggingface_hub's own (HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE).
    """
    from zoo.cli import progress
    from zoo.context import Context

    if registry and Path(registry).expanduser().is_file():
        source = "ZOO_REGISTRY" if ctx.get_parameter_source("registry") == ParameterSource.ENVIRONMENT else "--registry"
        raise StorageError(f"{registry} ({source}) is a file, not a directory: give the registry's directory")
    # Built once; every command, listing or job, takes its registry, plugins and progress from it.
    ctx.obj = Context.from_environment(registry=registry, strict_plugins=strict_plugins or None,
                                       progress=progress.from_environment())
    if model_file_refs:
        from zoo.host import model_files

        for reference in model_file_refs:
            model_files.register(ctx.obj.plugins, model_files.parse(reference))


# Options of the zoo group itself, which a user may put after the command by mistake.
GLOBAL_OPTIONS = ("--model-file", "--strict-plugins", "--registry")


def _register_commands() -> None:
    from zoo.cli import catalog, hub, jobs, registry, sweep

    for module in (catalog, jobs, sweep, registry, hub):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()


def run() -> None:
    """The `zoo` console script and `python -m zoo`: the command, then an exit that Ctrl-C cannot interrupt."""
    import signal

    try:
        main(prog_name="zoo")
    finally:
        # The command has finished and said what it did; Ctrl-C during interpreter shutdown (torch's exit hooks)
        # would only print a traceback over that.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
